import { urlToFs } from '@strata/fs-core';
import { describe, expect, it } from 'vitest';
import { dirnameUrl, isWithin, joinUrl, normalizeUrl, sameUrl } from '../src/urls.js';

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
  });
});
