import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { AbortError, fromAdapter, type AdapterListOptions, type CallOptions, type FileInfo } from '../src/index.js';
import { MapObjectStoreAdapter } from './support/map-object-store.js';

/** Requests about paths holding `dst` stall, as a server that stops answering, until their signal aborts. */
class StallingStore extends MapObjectStoreAdapter {
  stalled = 0;

  private stall(path: string, signal: AbortSignal | undefined): Promise<never> | undefined {
    if (!path.includes('dst')) return undefined;
    this.stalled++;
    return new Promise((_, reject) => signal?.addEventListener('abort', () => reject(new AbortError({ path, cause: signal.reason })), { once: true }));
  }

  override async head(path: string, options: CallOptions): Promise<FileInfo> {
    return (await this.stall(path, options.signal)) ?? super.head(path, options);
  }

  override async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    await this.stall(path, options.signal);
    yield* super.list(path, options);
  }
}

describe('put, cp and mv pass their signal to the destination check', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('a stalled destination check ends in AbortError when the signal fires, and nothing is written', { timeout: 10_000 }, async () => {
    const store = new StallingStore(new Set(['b']));
    const fs = fromAdapter(store);
    await fs.pipe('b/src.txt', 'data');
    const local = await mkdtemp(join(tmpdir(), 'strata-abort-'));
    dirs.push(local);
    await writeFile(join(local, 'up.txt'), 'upload');
    const calls: Array<[string, (signal: AbortSignal) => Promise<void>]> = [
      ['put', (signal) => fs.put(join(local, 'up.txt'), 'b/dst-put.txt', { signal })],
      ['cp', (signal) => fs.cp('b/src.txt', 'b/dst-cp.txt', { signal })],
      ['mv', (signal) => fs.mv('b/src.txt', 'b/dst-mv.txt', { signal })],
    ];
    for (const [name, call] of calls) {
      const before = store.stalled;
      const error = await call(AbortSignal.timeout(50)).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(AbortError);
      expect(store.stalled, `${name} reached the destination`).toBeGreaterThan(before);
    }
    expect(await fs.find('b')).toEqual(['b/src.txt']);
  });
});
