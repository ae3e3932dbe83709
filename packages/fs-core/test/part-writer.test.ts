import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { AtomicWriteHandle } from '../src/handles.js';
import { AbortError, PartWriter, RetryPolicy, StorageError, type PartUploader } from '../src/index.js';

/** Records what a chunked upload receives; parts are copied because PartWriter reuses buffers. */
class RecordingUploader implements PartUploader {
  constructor(readonly partsInAnyOrder = false) {}
  whole: Uint8Array | undefined;
  parts = new Map<number, Uint8Array>();
  /** Part numbers in the order their uploads began. */
  order: number[] = [];
  started = 0;
  completed: { partCount: number; total: number } | undefined;
  aborted = 0;
  inflight = 0;
  maxInflight = 0;
  failPart: number | undefined;
  failuresLeft = 0;

  async putWhole(data: Uint8Array) {
    this.whole = data.slice();
  }
  async start() {
    this.started++;
  }
  async uploadPart(n: number, data: Uint8Array) {
    this.order.push(n);
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    const copy = data.slice();
    await new Promise((r) => setTimeout(r, 2));
    this.inflight--;
    if (n === this.failPart && this.failuresLeft-- > 0) throw new StorageError({ retryable: true }, `part ${n} failed`);
    this.parts.set(n, copy);
  }
  async complete(partCount: number, total: number) {
    this.completed = { partCount, total };
  }
  async abort() {
    this.aborted++;
  }
  assembled(): Uint8Array {
    const ordered = [...this.parts.keys()].sort((a, b) => a - b).map((k) => this.parts.get(k)!);
    return Buffer.concat(ordered);
  }
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('PartWriter', () => {
  it('sends small data as one whole-body PUT without starting an upload', async () => {
    const up = new RecordingUploader();
    const w = new PartWriter(up, { partSize: 1024, concurrency: 2 });
    await w.write(bytes(100, 1));
    await w.write(bytes(50, 2));
    await w.commit();
    expect(up.started).toBe(0);
    expect(sha(up.whole!)).toBe(sha(Buffer.concat([bytes(100, 1), bytes(50, 2)])));
  });

  it('an empty write still creates an empty object', async () => {
    const up = new RecordingUploader();
    await new PartWriter(up, { partSize: 1024, concurrency: 2 }).commit();
    expect(up.whole).toEqual(new Uint8Array(0));
  });

  it('splits large data into exact parts, bounded in flight, bytes intact despite buffer reuse', async () => {
    const up = new RecordingUploader();
    const w = new PartWriter(up, { partSize: 1000, concurrency: 3 });
    const chunks = [bytes(333, 1), bytes(4096, 2), bytes(1, 3), bytes(2500, 4), bytes(70, 5)];
    for (const c of chunks) await w.write(c);
    await w.commit();
    const expected = Buffer.concat(chunks);
    expect(up.started).toBe(1);
    expect(up.completed).toEqual({ partCount: Math.ceil(expected.length / 1000), total: expected.length });
    for (const [n, part] of up.parts) if (n < up.parts.size) expect(part.length).toBe(1000);
    expect(sha(up.assembled())).toBe(sha(expected));
    expect(up.maxInflight).toBeLessThanOrEqual(3);
    expect(up.maxInflight).toBeGreaterThan(1);
  });

  it('copies caller buffers, so reusing them after write() is safe', async () => {
    const up = new RecordingUploader();
    const w = new PartWriter(up, { partSize: 64, concurrency: 2 });
    const reused = new Uint8Array(48);
    const expected: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) {
      reused.fill(i);
      expected.push(reused.slice());
      await w.write(reused);
    }
    await w.commit();
    expect(sha(up.assembled())).toBe(sha(Buffer.concat(expected)));
  });

  it('retries a failed part with the retry policy', async () => {
    const up = new RecordingUploader();
    up.failPart = 2;
    up.failuresLeft = 2;
    const w = new PartWriter(up, { partSize: 10, concurrency: 2, retry: new RetryPolicy({ attempts: 3, baseDelayMs: 1 }) });
    const data = bytes(55, 9);
    await w.write(data);
    await w.commit();
    expect(sha(up.assembled())).toBe(sha(data));
  });

  it('surfaces a part failure on a later call and aborts cleanly', async () => {
    const up = new RecordingUploader();
    up.failPart = 1;
    up.failuresLeft = 99;
    const w = new PartWriter(up, { partSize: 10, concurrency: 4 });
    await w.write(bytes(25, 1)); // part 1 goes out in the background and fails
    await expect(w.commit()).rejects.toThrow(/part 1 failed/);
    await w.abort();
    expect(up.aborted).toBe(1);
    expect(up.completed).toBeUndefined();
  });

  it('without parts in any order it offers no patch and sends part 1 first', async () => {
    const up = new RecordingUploader(false);
    const w = new PartWriter(up, { partSize: 10, concurrency: 2 });
    expect(w.patch).toBeUndefined();
    await w.write(bytes(35, 1));
    await w.commit();
    expect(up.order[0]).toBe(1);
  });

  it('with parts in any order it holds part 1 until commit, so its bytes can still be patched', async () => {
    const up = new RecordingUploader(true);
    const w = new PartWriter(up, { partSize: 10, concurrency: 2 });
    expect(w.patchableBytes).toBe(10);
    await w.write(bytes(4, 1));
    await w.patch!(0, bytes(2, 9)); // part 1 still filling
    await w.write(bytes(31, 2));
    expect(up.parts.has(1)).toBe(false); // full, but held back
    await w.patch!(6, bytes(4, 7)); // part 1 held
    await w.commit();
    const expected = Buffer.concat([bytes(4, 1), bytes(31, 2)]);
    expected.set(bytes(2, 9), 0);
    expected.set(bytes(4, 7), 6);
    expect(sha(up.assembled())).toBe(sha(expected));
    expect(up.order.at(-1)).toBe(1); // part 1 went out last, after every patch
    expect(up.completed).toEqual({ partCount: 4, total: 35 });
  });

  it('a held part 1 that fails at commit fails the commit, and nothing is completed', async () => {
    const up = new RecordingUploader(true);
    up.failPart = 1;
    up.failuresLeft = 99;
    const w = new PartWriter(up, { partSize: 10, concurrency: 2 });
    await w.write(bytes(25, 1));
    await expect(w.commit()).rejects.toThrow(/part 1 failed/);
    await w.abort();
    expect(up.completed).toBeUndefined();
    expect(up.aborted).toBe(1);
  });

  describe('abort never hangs on a stalled cleanup', () => {
    /** A request that never answers, but ends (like an SDK call) when its signal fires. */
    const stalled = (signal: AbortSignal | undefined) =>
      new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('request aborted', { cause: signal.reason })), { once: true }));

    /** The cleanup request (and with `stallParts` the parts too) never answers; records the signals given. */
    class StalledCleanup extends RecordingUploader {
      stallParts = false;
      partSignals: (AbortSignal | undefined)[] = [];
      cleanupSignals: (AbortSignal | undefined)[] = [];
      override async uploadPart(n: number, data: Uint8Array, _isLast?: boolean, signal?: AbortSignal) {
        if (!this.stallParts) return super.uploadPart(n, data);
        this.partSignals.push(signal);
        await stalled(signal);
      }
      override async abort(signal?: AbortSignal) {
        this.aborted++;
        this.cleanupSignals.push(signal);
        await stalled(signal);
      }
    }

    it('an explicit abort() resolves once the cleanup bound runs out, the bound passed to the cleanup request', async () => {
      const up = new StalledCleanup(true);
      const w = new PartWriter(up, { partSize: 10, concurrency: 2, cleanupTimeoutMs: 200, retry: new RetryPolicy({ attempts: 3, baseDelayMs: 1 }) });
      await w.write(bytes(35, 1));
      const started = Date.now();
      await w.abort();
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(up.aborted).toBeGreaterThanOrEqual(1);
      expect(up.cleanupSignals[0]?.aborted, 'the cleanup request got a signal that fired').toBe(true);
      expect(up.completed).toBeUndefined();
    });

    it("after the caller's signal fired, abort() still waits for the cleanup, within a bound of its own", async () => {
      const up = new StalledCleanup(true);
      const w = new PartWriter(up, { partSize: 10, concurrency: 2, cleanupTimeoutMs: 200 });
      const caller = new AbortController();
      await w.write(bytes(35, 1), caller.signal);
      caller.abort(new Error('user gave up'));
      const started = Date.now();
      await w.abort();
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(up.aborted, 'cleanup attempted').toBe(1);
      expect(up.cleanupSignals[0], 'with a bound of its own').toBeInstanceOf(AbortSignal);
      expect(up.cleanupSignals[0]).not.toBe(caller.signal);
    });

    it('abort() stops parts still in flight instead of waiting for them', async () => {
      const up = new StalledCleanup(false);
      up.stallParts = true;
      const w = new PartWriter(up, { partSize: 10, concurrency: 2, cleanupTimeoutMs: 50 });
      await w.write(bytes(15, 1)); // part 1 in flight, never answered
      const started = Date.now();
      await w.abort();
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(up.partSignals[0]?.aborted, 'the part was stopped').toBe(true);
      expect(up.aborted).toBe(1);
    });

    it("a write handle whose signal fires while parts and cleanup stall rejects at once with AbortError", async () => {
      const up = new StalledCleanup(false);
      up.stallParts = true;
      const w = new PartWriter(up, { partSize: 10, concurrency: 1, cleanupTimeoutMs: 400 });
      const caller = new AbortController();
      const guard = async <T,>(fn: () => Promise<T>): Promise<T> => {
        try {
          return await fn();
        } catch (error) {
          throw caller.signal.aborted ? new AbortError({ cause: error }) : error;
        }
      };
      const handle = new AtomicWriteHandle('b/k', 'overwrite', 'mem', w, guard, caller.signal);
      setTimeout(() => caller.abort(new Error('user gave up')), 50);
      const started = Date.now();
      await expect(handle.write(bytes(25, 1))).rejects.toBeInstanceOf(AbortError);
      expect(Date.now() - started).toBeLessThan(1_000);
      await vi.waitFor(() => expect(up.aborted, 'cleanup attempted').toBe(1));
      // An explicit abort() (or dispose) waits for that cleanup to end, within its bound.
      await handle.abort();
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(up.completed).toBeUndefined();
      expect(up.whole).toBeUndefined();
    });
  });
});
