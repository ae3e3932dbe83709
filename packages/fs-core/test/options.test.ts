import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { InvalidPathError, filesystem, type FileSystem } from '../src/index.js';

const BAD_CONCURRENCY = [1.5, 0, -2, Number.NaN, '4'];

/** The typed options error (EINVAL), never p-limit's or node:path's plain TypeError. */
async function expectOptionsError(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error, what).toBeInstanceOf(InvalidPathError);
  expect(error, what).toMatchObject({ code: 'EINVAL' });
}

describe('filesystem options are checked when the filesystem is made', () => {
  it('concurrency must be a whole number from 1 up (or Infinity)', async () => {
    for (const protocol of ['memory', 'file']) {
      for (const concurrency of BAD_CONCURRENCY) {
        await expectOptionsError(filesystem(protocol, { store: 'private', concurrency }), `${protocol} concurrency ${String(concurrency)}`);
      }
      expect((await filesystem(protocol, { concurrency: 3 })).concurrency).toBe(3);
      expect((await filesystem(protocol, { concurrency: Infinity })).concurrency).toBe(Infinity);
      expect((await filesystem(protocol, { concurrency: undefined })).concurrency).toBe(16);
    }
  });

  it('blockSize must be a whole number from 1 up (a NaN one failed every read handle)', async () => {
    for (const blockSize of [Number.NaN, 0, 2.5, Infinity, '8']) {
      await expectOptionsError(filesystem('memory', { store: 'private', blockSize }), `blockSize ${String(blockSize)}`);
    }
    const fs = await filesystem('memory', { store: 'private', blockSize: 2 });
    await fs.pipe('/f', 'abcde');
    const handle = await fs.open('/f', 'rb');
    expect(Buffer.from(await handle.read(-1)).toString()).toBe('abcde');
    await handle.close();
  });

  it("the file root must be a string: filesystem('file', { root: 123 })", async () => {
    for (const root of [123, null, {}]) await expectOptionsError(filesystem('file', { root }), `root ${JSON.stringify(root)}`);
  });
});

describe('a bad per-call concurrency fails before the bulk call changes anything', () => {
  let fs: FileSystem;
  let local: string;

  beforeEach(async () => {
    fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/a/sub/x', 'x');
    local = await mkdtemp(join(tmpdir(), 'strata-options-'));
    await writeFile(join(local, 'up.txt'), 'up');
  });

  afterEach(async () => {
    await rm(local, { recursive: true, force: true });
  });

  it('cp -r, mv, rm -r, put, get and catRanges', async () => {
    for (const concurrency of BAD_CONCURRENCY as number[]) {
      const what = (call: string) => `${call} with concurrency ${String(concurrency)}`;
      // cp -r used to make /b and /b/sub before p-limit threw.
      await expectOptionsError(fs.cp('/a', '/b', { recursive: true, concurrency }), what('cp -r'));
      await expectOptionsError(fs.mv('/a', '/b', { recursive: true, concurrency }), what('mv'));
      expect(await fs.exists('/b')).toBe(false);
      await expectOptionsError(fs.rm('/a', { recursive: true, concurrency }), what('rm -r'));
      expect(await fs.exists('/a/sub/x')).toBe(true);
      await expectOptionsError(fs.put(local, '/up', { recursive: true, concurrency }), what('put -r'));
      expect(await fs.exists('/up')).toBe(false);
      await expectOptionsError(fs.get('/a', join(local, 'down'), { recursive: true, concurrency }), what('get -r'));
      expect(await readdir(local)).toEqual(['up.txt']);
      await expectOptionsError(fs.catRanges(['/a/sub/x'], [0], [1], { concurrency }), what('catRanges'));
    }
    // Left out, or undefined, it is the filesystem's.
    await fs.cp('/a', '/b', { recursive: true, concurrency: undefined });
    expect(await fs.find('/b')).toEqual(['/b/sub/x']);
  });
});
