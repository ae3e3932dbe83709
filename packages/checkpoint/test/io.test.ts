import { StorageError, type FileSystem } from '@strata/fs-core';
import { describe, expect, it } from 'vitest';

import { AsyncCheckpointIO, FsCheckpointIO, UnstorableValueError, snapshotCheckpoint, tensor, type CheckpointIO, type Tensor } from '../src/index.js';
import { instrumentedFs, privateMemoryFs } from './helpers.js';

/** Delays every write of the write handles of `slow` paths (all by default), so saves overlap in time. */
function slowWrites(inner: FileSystem, delayMs: number, slow: (path: string) => boolean = () => true): FileSystem {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop !== 'open') {
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return async (path: string, mode: 'rb' | 'wb' | 'xb', options?: object) => {
        const handle = await target.open(path, mode as 'wb', options);
        if (mode === 'rb' || !slow(path)) return handle;
        return new Proxy(handle, {
          get(h, p) {
            if (p === 'write') {
              return async (chunk: Uint8Array) => {
                await new Promise((r) => setTimeout(r, delayMs));
                return h.write(chunk);
              };
            }
            const v = Reflect.get(h, p, h);
            return typeof v === 'function' ? v.bind(h) : v;
          },
        });
      };
    },
  });
}

/** Fails to open any path containing `fragment` for writing. */
function failingWrites(inner: FileSystem, fragment: string): FileSystem {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop !== 'open') {
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return async (path: string, mode: 'rb' | 'wb' | 'xb', options?: object) => {
        if (mode !== 'rb' && path.includes(fragment)) throw new StorageError({ path, protocol: target.protocol }, `injected failure writing ${path}`);
        return target.open(path, mode as 'wb', options);
      };
    },
  });
}

describe('FsCheckpointIO', () => {
  it('saves, loads and removes; removing a missing checkpoint is fine', async () => {
    const fs = await privateMemoryFs();
    const io: CheckpointIO = new FsCheckpointIO({ fs });
    await io.saveCheckpoint({ step: 1, w: tensor('F32', [1], [2]) }, '/ckpts/a.safetensors');
    expect(await io.loadCheckpoint('/ckpts/a.safetensors')).toStrictEqual({ step: 1, w: tensor('F32', [1], [2]) });
    await io.removeCheckpoint('/ckpts/a.safetensors');
    expect(await fs.exists('/ckpts/a.safetensors')).toBe(false);
    await io.removeCheckpoint('/ckpts/a.safetensors');
    await io.teardown();
  });
});

describe('snapshotCheckpoint', () => {
  it('copies tensor bytes and returns what a load would', () => {
    const w = tensor('F32', [2], [1, 2]);
    const raw = new Int16Array([5]);
    const snap = snapshotCheckpoint({ w, nested: { raw }, when: new Date(5) }) as { w: Tensor; nested: { raw: Int16Array }; when: Date };
    (w.data as Float32Array)[0] = 99;
    raw[0] = 99;
    expect([...(snap.w.data as Float32Array)]).toEqual([1, 2]);
    expect([...snap.nested.raw]).toEqual([5]);
    expect(snap.when).toEqual(new Date(5));
  });

  it('gives back an ArrayBuffer even when the copies live in SharedArrayBuffers', () => {
    const blob = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer;
    const snap = snapshotCheckpoint({ blob }, (n) => new Uint8Array(new SharedArrayBuffer(n))) as { blob: ArrayBuffer };
    expect(snap.blob).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(snap.blob)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});

describe('AsyncCheckpointIO', () => {
  it('returns before the save finishes, with the state as it was at the call', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: slowWrites(fs, 20) }));
    const weights = tensor('F32', [3], [1, 2, 3]);
    const ckpt = { step: 10, weights, history: [1, 2] };
    await io.saveCheckpoint(ckpt, '/run/last.safetensors');
    expect(io.pendingSaves).toBe(1);
    expect(await fs.exists('/run/last.safetensors')).toBe(false);
    // Training goes on and mutates everything.
    (weights.data as Float32Array).fill(-1);
    ckpt.step = 11;
    ckpt.history.push(3);
    await io.flush();
    const loaded = (await io.loadCheckpoint('/run/last.safetensors')) as typeof ckpt;
    expect(loaded.step).toBe(10);
    expect(loaded.history).toEqual([1, 2]);
    expect([...(loaded.weights.data as Float32Array)]).toEqual([1, 2, 3]);
    await io.teardown();
  });

  it('never runs two saves to the same URL at once, and keeps the last one', async () => {
    const fs = await privateMemoryFs();
    const { fs: watched, stats } = instrumentedFs(slowWrites(fs, 5));
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: watched }), { maxPendingSaves: 8 });
    const big = () => tensor('U8', [3 << 20]);
    for (let step = 0; step < 4; step++) {
      await io.saveCheckpoint({ step, w: big() }, '/same.safetensors');
      await io.saveCheckpoint({ step, w: big() }, `/other-${step}.safetensors`);
    }
    await io.flush();
    expect(stats.maxConcurrentWrites.get('/same.safetensors')).toBe(1);
    // Saves to different URLs did overlap: the background really runs concurrently.
    expect(stats.maxConcurrentWritesOverall).toBeGreaterThan(1);
    expect(((await io.loadCheckpoint('/same.safetensors')) as { step: number }).step).toBe(3);
  });

  it('snapshots at the call even when the caller does not wait, and keeps call order', async () => {
    const fs = await privateMemoryFs();
    const { fs: watched, stats } = instrumentedFs(slowWrites(fs, 5));
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: watched }), { maxPendingSaves: 1 });
    const w = tensor('I32', [1], [0]);
    const calls: Promise<void>[] = [];
    for (let step = 0; step < 5; step++) {
      (w.data as Int32Array)[0] = step;
      calls.push(io.saveCheckpoint({ step, w }, '/fire-and-forget.safetensors'));
    }
    (w.data as Int32Array)[0] = -1;
    await Promise.all(calls);
    await io.flush();
    const loaded = (await io.loadCheckpoint('/fire-and-forget.safetensors')) as { step: number; w: Tensor };
    expect(loaded.step).toBe(4);
    expect([...(loaded.w.data as Int32Array)]).toEqual([4]);
    expect(stats.maxConcurrentWritesOverall).toBe(1);
  });

  it('bounds the number of pending snapshots', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: slowWrites(fs, 10) }), { maxPendingSaves: 2 });
    for (let i = 0; i < 5; i++) {
      await io.saveCheckpoint({ i, w: tensor('U8', [1 << 20]) }, `/b${i}.safetensors`);
      expect(io.pendingSaves).toBeLessThanOrEqual(2);
    }
    await io.teardown();
    for (let i = 0; i < 5; i++) expect(await fs.exists(`/b${i}.safetensors`)).toBe(true);
  });

  it('commits saves to different URLs in the order they were made, however the uploads finish', async () => {
    const fs = await privateMemoryFs();
    const { fs: watched, stats } = instrumentedFs(slowWrites(fs, 30, (path) => path.includes('top-k')));
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: watched }), { maxPendingSaves: 4 });
    // As ModelCheckpoint does: the top-k file, then last.ckpt whose state names it as best.
    await io.saveCheckpoint({ w: tensor('U8', [4 << 20]) }, '/run/top-k.safetensors');
    await io.saveCheckpoint({ best: '/run/top-k.safetensors' }, '/run/last.safetensors');
    await io.flush();
    expect(stats.commits).toEqual(['/run/top-k.safetensors', '/run/last.safetensors']);
  });

  it('never commits a save made after one that failed: the previous file stays, and both failures are reported', async () => {
    const fs = await privateMemoryFs();
    await fs.pipe('/run/last.safetensors', 'previous');
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: failingWrites(slowWrites(fs, 30, (path) => path.includes('bad')), 'bad') }));
    await io.saveCheckpoint({ a: 1 }, '/run/bad.safetensors');
    await io.saveCheckpoint({ a: 2 }, '/run/last.safetensors');
    const error = await io.flush().catch((e: unknown) => e);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual([
      expect.stringMatching(/injected failure/),
      expect.stringMatching(/last\.safetensors was not committed: a save made before it failed/),
    ]);
    expect(new TextDecoder().decode(await fs.cat('/run/last.safetensors'))).toBe('previous');
    // The caller has heard of it: later saves commit again.
    await io.saveCheckpoint({ a: 3 }, '/run/last.safetensors');
    await io.flush();
    expect(((await io.loadCheckpoint('/run/last.safetensors')) as { a: number }).a).toBe(3);
  });

  it('surfaces a background failure on the next call, once', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: failingWrites(fs, 'bad') }));
    await io.saveCheckpoint({ a: 1 }, '/bad.safetensors');
    await new Promise((r) => setTimeout(r, 20));
    await expect(io.saveCheckpoint({ a: 2 }, '/good.safetensors')).rejects.toThrow(/injected failure/);
    await io.saveCheckpoint({ a: 3 }, '/good.safetensors');
    await io.flush();
    expect(((await io.loadCheckpoint('/good.safetensors')) as { a: number }).a).toBe(3);
  });

  it('surfaces a background failure at flush and at teardown', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: failingWrites(fs, 'bad') }));
    await io.saveCheckpoint({ a: 1 }, '/bad-1.safetensors');
    await expect(io.flush()).rejects.toThrow(/injected failure/);
    await io.saveCheckpoint({ a: 1 }, '/bad-2.safetensors');
    await io.saveCheckpoint({ a: 1 }, '/bad-3.safetensors');
    const error = await io.teardown().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors).toHaveLength(2);
  });

  it('a load of a URL waits for its pending save and reports if it failed', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: slowWrites(fs, 10) }));
    await io.saveCheckpoint({ v: 1 }, '/rw.safetensors');
    expect(await io.loadCheckpoint('/rw.safetensors')).toEqual({ v: 1 });

    const failing = new AsyncCheckpointIO(new FsCheckpointIO({ fs: failingWrites(fs, 'rw') }));
    await failing.saveCheckpoint({ v: 2 }, '/rw.safetensors');
    await expect(failing.loadCheckpoint('/rw.safetensors')).rejects.toThrow(/injected failure/);
  });

  it('refuses an unstorable value at the call, not in the background', async () => {
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: await privateMemoryFs() }));
    await expect(io.saveCheckpoint({ f: () => 1 }, '/x.safetensors')).rejects.toBeInstanceOf(UnstorableValueError);
    expect(io.pendingSaves).toBe(0);
  });

  it('queues a removal: it returns at once and deletes the older checkpoint only after the newer save commits', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: slowWrites(fs, 20) }));
    await new FsCheckpointIO({ fs }).saveCheckpoint({ step: 1 }, '/step-1.safetensors');
    await io.saveCheckpoint({ step: 2, w: tensor('U8', [3 << 20]) }, '/step-2.safetensors');
    await io.removeCheckpoint('/step-1.safetensors');
    // The newer save is still writing, so the older checkpoint is still the one on storage.
    expect(io.pendingSaves).toBe(1);
    expect(await fs.exists('/step-2.safetensors')).toBe(false);
    expect(await fs.exists('/step-1.safetensors')).toBe(true);
    await io.flush();
    expect(await fs.exists('/step-2.safetensors')).toBe(true);
    expect(await fs.exists('/step-1.safetensors')).toBe(false);
  });

  it('keeps the older checkpoint when the save queued before its removal fails, and reports the failure', async () => {
    const fs = await privateMemoryFs();
    await new FsCheckpointIO({ fs }).saveCheckpoint({ step: 1 }, '/keep-1.safetensors');
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: failingWrites(fs, 'bad') }));
    await io.saveCheckpoint({ step: 2 }, '/bad-2.safetensors');
    await io.removeCheckpoint('/keep-1.safetensors');
    await expect(io.flush()).rejects.toThrow(/injected failure/);
    expect(await io.loadCheckpoint('/keep-1.safetensors')).toEqual({ step: 1 });
  });

  it('surfaces a failed background removal on the next call; a load of that URL waits for the removal', async () => {
    const fs = await privateMemoryFs();
    const inner = new FsCheckpointIO({ fs });
    let removals = 0;
    const failingRemove: CheckpointIO = {
      saveCheckpoint: (c, u, o) => inner.saveCheckpoint(c, u, o),
      loadCheckpoint: (u, o) => inner.loadCheckpoint(u, o),
      removeCheckpoint: async (u) => {
        removals++;
        if (u.includes('stuck')) throw new StorageError({ path: u, protocol: 'memory' }, `injected failure removing ${u}`);
        await inner.removeCheckpoint(u);
      },
      teardown: () => inner.teardown(),
    };
    const io = new AsyncCheckpointIO(failingRemove);
    await io.saveCheckpoint({ v: 1 }, '/gone-too.safetensors');
    await io.removeCheckpoint('/gone-too.safetensors');
    await expect(io.loadCheckpoint('/gone-too.safetensors')).rejects.toThrow(/not found|No such/i);
    await io.removeCheckpoint('/stuck.safetensors');
    await new Promise((r) => setTimeout(r, 20));
    await expect(io.saveCheckpoint({ v: 2 }, '/next.safetensors')).rejects.toThrow(/injected failure removing/);
    expect(removals).toBe(2);
    await io.teardown();
  });

  it('saves a checkpoint holding an ArrayBuffer', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs }));
    const blob = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]).buffer;
    await io.saveCheckpoint({ blob }, '/blob.safetensors');
    const loaded = (await io.loadCheckpoint('/blob.safetensors')) as { blob: ArrayBuffer };
    expect(loaded.blob).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(loaded.blob)]).toEqual([9, 8, 7, 6, 5, 4, 3, 2]);
    await io.teardown();
  });

  it('removes a checkpoint only after its pending save', async () => {
    const fs = await privateMemoryFs();
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs: slowWrites(fs, 10) }));
    await io.saveCheckpoint({ v: 1 }, '/gone.safetensors');
    await io.removeCheckpoint('/gone.safetensors');
    await io.flush();
    expect(await fs.exists('/gone.safetensors')).toBe(false);
  });
});
