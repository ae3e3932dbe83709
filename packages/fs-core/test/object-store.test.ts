import { describe, expect, it } from 'vitest';

import { fromAdapter, type CallOptions } from '../src/index.js';
import { MapObjectStoreAdapter } from './support/map-object-store.js';

/** The object-store double with a batch delete that writes down each batch. */
class BatchingStore extends MapObjectStoreAdapter {
  readonly batches: string[][] = [];
  readonly singles: string[] = [];

  async removeMany(paths: string[], options: CallOptions): Promise<void> {
    this.batches.push([...paths].sort());
    for (const path of paths) await super.remove(path, options);
  }

  override async remove(path: string, options: CallOptions): Promise<void> {
    this.singles.push(path);
    await super.remove(path, options);
  }
}

describe('object stores: facade over a flat key space', () => {
  it('rm -r hands directory markers to the batch delete with the files, the directory\'s own marker too', async () => {
    const store = new BatchingStore(new Set(['b']));
    const fs = fromAdapter(store);
    const empty = new Uint8Array(0);
    for (const key of ['b/d/', 'b/d/sub/', 'b/d/deep/er/']) await store.putRaw(key, empty);
    await fs.pipe('b/d/sub/f.txt', 'f');
    await fs.rm('b/d', { recursive: true });
    expect(store.batches).toEqual([['b/d/', 'b/d/deep/er/', 'b/d/sub/', 'b/d/sub/f.txt']]);
    expect(store.singles).toEqual([]);
    expect(await fs.exists('b/d')).toBe(false);
  });

  it('find withDirs lists a bucket searched as a whole, as any other directory', async () => {
    const fs = fromAdapter(new MapObjectStoreAdapter(new Set(['b'])));
    await fs.pipe('b/d/f.txt', 'f');
    expect(await fs.find('b', { withDirs: true })).toEqual(['b', 'b/d', 'b/d/f.txt']);
    expect(await fs.find('b/d', { withDirs: true })).toEqual(['b/d', 'b/d/f.txt']);
  });
});
