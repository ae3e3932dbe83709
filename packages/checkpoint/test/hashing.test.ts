import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

import { AsyncCheckpointIO, loadCheckpoint, readCheckpointInfo, snapshotCheckpoint } from '../src/index.js';
import { isShared, isWholeBuffer, sha256OnWorker, sha256SlicesOnWorker } from '../src/hashing.js';
import { filesystem } from '@strata/fs-core';

// The real worker, watched: shows which saves hashed off the thread, and on what memory.
vi.mock('../src/hashing.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/hashing.js')>();
  return { ...original, sha256OnWorker: vi.fn(original.sha256OnWorker) };
});

describe('off-thread hashing of private snapshots', () => {
  it('the worker hashes shared memory in place and agrees with node:crypto', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(3 * 1024 * 1024 + 7));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 131) & 0xff;
    const view = shared.subarray(5, 2_000_003);
    const [a, b] = await sha256OnWorker([shared, view]);
    expect(a).toBe(createHash('sha256').update(shared).digest('hex'));
    expect(b).toBe(createHash('sha256').update(view).digest('hex'));
  });

  it('moves a buffer to the worker for slice digests and hands it back intact', async () => {
    const bytes = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    const expected = createHash('sha256').update(bytes).digest('hex');
    const part = createHash('sha256').update(bytes.subarray(10, 4_000_000)).digest('hex');
    expect(isWholeBuffer(bytes)).toBe(true);
    expect(isWholeBuffer(bytes.subarray(1))).toBe(false);
    const { bytes: back, digests } = await sha256SlicesOnWorker(bytes, [[0, bytes.length], [10, 4_000_000]]);
    expect(bytes.byteLength).toBe(0); // moved, not copied
    expect(digests).toEqual([expected, part]);
    expect(createHash('sha256').update(back).digest('hex')).toBe(expected);
  });

  it('AsyncCheckpointIO snapshots into shared memory and its saves carry correct digests', async () => {
    const weights = new Float32Array(256 * 1024).map((_, i) => Math.sin(i));
    const snapshot = snapshotCheckpoint({ w: { dtype: 'F32', shape: [weights.length], data: weights } }) as { w: { data: Float32Array } };
    expect(isShared(snapshot.w.data)).toBe(true);

    const fs = await filesystem('memory', { store: 'private' });
    const io = new AsyncCheckpointIO(undefined, {});
    vi.mocked(sha256OnWorker).mockClear();
    await io.saveCheckpoint({ step: 1, w: { dtype: 'F32', shape: [weights.length], data: weights } }, '/h/a.ckpt', { fs });
    weights.fill(0); // the saved checkpoint is the state at the call
    await io.flush();
    const hashed = vi.mocked(sha256OnWorker).mock.calls.flatMap(([views]) => views);
    expect(hashed.length, 'the save hashed its snapshot on the worker').toBeGreaterThan(0);
    expect(hashed.every(isShared), "the IO's snapshot is shared memory").toBe(true);
    const loaded = (await loadCheckpoint('/h/a.ckpt', { fs })) as { w: { data: Float32Array } };
    expect(loaded.w.data[1]).toBe(Math.fround(Math.sin(1)));
    const info = await readCheckpointInfo('/h/a.ckpt', { fs });
    const stored = info.tensors.find((t) => t.name === 'w')!;
    const expected = createHash('sha256').update(new Uint8Array(loaded.w.data.buffer, loaded.w.data.byteOffset, loaded.w.data.byteLength)).digest('hex');
    expect(stored.sha256).toBe(expected);
    await io.teardown();
  });
});
