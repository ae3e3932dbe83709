import { urlToFs } from '@strata/fs-core';
import { describe, expect, it } from 'vitest';
import { dirnameUrl, entryToUrl, hasLocalRoot, isWithin, joinUrl, normalizeUrl, sameUrl } from '../src/urls.js';

describe('run URLs', () => {
  it('spell a local path the way fs-core reads it: relative to the working directory, no percent-decoding', async () => {
    for (const url of ['runs/a.ckpt', './runs/a.ckpt', 'file://runs/a.ckpt', 'local://runs/a.ckpt', 'file:///abs/a%20b.ckpt', '/abs/x/../y.ckpt', 'file://']) {
      expect(normalizeUrl(url), url).toBe((await urlToFs(url)).path);
    }
    expect(normalizeUrl('file://runs')).toBe(`${process.cwd()}/runs`);
  });

  it('spell an object-store URL once, with no empty or dot segments', () => {
    expect(normalizeUrl('s3://bucket//run/./ckpts/')).toBe('s3://bucket/run/ckpts');
    expect(sameUrl('gs://b/run/', 'gs://b//run')).toBe(true);
    expect(sameUrl('gs://b/run', 's3://b/run')).toBe(false);
    expect(joinUrl('s3://b/run/', 'checkpoints/', '/last.ckpt')).toBe('s3://b/run/checkpoints/last.ckpt');
    expect(dirnameUrl('s3://b/run/last.ckpt')).toBe('s3://b/run');
    expect(isWithin('s3://b/run', 's3://b/run/x.ckpt')).toBe(true);
    expect(isWithin('s3://b/run', 's3://b/run-2/x.ckpt')).toBe(false);
    expect(entryToUrl('s3://b/run', 'b/run/x.ckpt')).toBe('s3://b/run/x.ckpt');
  });

  it('keep an Azure account host the user wrote when a listing names the container alone', () => {
    const dir = 'abfs://c@acct.dfs.core.windows.net/run';
    const listed = entryToUrl(dir, 'c/run/x.ckpt');
    expect(listed).toBe('abfs://c@acct.dfs.core.windows.net/run/x.ckpt');
    expect(isWithin(dir, listed)).toBe(true);
    expect(sameUrl(listed, `${dir}/x.ckpt`)).toBe(true);
    expect(entryToUrl(dir, 'other/run/x.ckpt')).toBe('abfs://other/run/x.ckpt');
  });
});

describe('a trainer under a file root', () => {
  it('reads its relative URLs from the root, as the checkpoint functions do, and keeps every file inside it', async () => {
    const { mkdtemp, readdir, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadCheckpoint } = await import('@strata/checkpoint');
    const { Trainer, ModelCheckpoint } = await import('../src/index.js');
    const { makeDataModule, makeMlp } = await import('./helpers.js');
    const root = await mkdtemp(join(tmpdir(), 'strata-rooted-'));
    try {
      const storageOptions = { file: { root } };
      expect(hasLocalRoot(storageOptions)).toBe(true);
      expect(hasLocalRoot({ s3: {} })).toBe(false);
      expect(normalizeUrl('runs/x.ckpt', true)).toBe('/runs/x.ckpt');
      expect(normalizeUrl('file://runs/../x.ckpt', true)).toBe('/x.ckpt');
      const trainer = new Trainer({
        defaultRootDir: 'runs',
        storageOptions,
        maxEpochs: 1,
        enableProgressBar: false,
        logger: false,
        callbacks: [new ModelCheckpoint({ saveLast: 'link' })],
      });
      await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
      expect(trainer.defaultRootDir).toBe('/runs');
      expect((await readdir(join(root, 'runs', 'checkpoints'))).sort()).toEqual(['epoch=0-step=10.ckpt', 'last.ckpt']);
      await trainer.saveCheckpoint('manual.ckpt');
      const loaded = await loadCheckpoint('manual.ckpt', { storageOptions });
      expect(loaded.global_step).toBe(10);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
