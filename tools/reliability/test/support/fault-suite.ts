/**
 * Targeted faults on S3, GCS and Azure: lost answers to conditional creates, a 256 MiB streamed
 * write under faults, no visible partial object, no leftovers after a write that finally fails,
 * cut-short read bodies, stalls and Retry-After. Every backend runs the same cases.
 */
import { createHash } from 'node:crypto';

import { AbortError, AlreadyExistsError, FsError, NotFoundError, TimeoutError, type AdaptedFileSystem, type FileSystem, type RetryEvent, type RetryOptions } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import type { FaultProxy, FaultRule, FaultSpec, RequestInfo } from '../../src/fault-proxy.js';
import { makeFs, probe, startProxy, uniqueName, type BackendName, type ServerProbe } from './backends.js';
import { faultRetry, STALL_MS } from './faults.js';
import { report } from './report.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** What each backend's requests are called at the proxy, and part sizes that keep the tests quick. */
interface Profile {
  wholePut: string;
  part: string;
  /** The request that makes a chunked upload visible. */
  commit: string | ((r: RequestInfo) => boolean);
  /** Cleanup of an unfinished chunked upload, if the protocol has one. */
  abortUpload?: string;
  /** Every request an abort's cleanup may send (Azure looks before it deletes). */
  cleanup: string[];
  /** What `rm -r` deletes with. */
  bulkRemove: string;
  read: string;
  head: string;
  remove: string;
  /** Options for small parts: a multi-part write of `multipartBytes` takes three or more requests. */
  smallParts: Record<string, unknown>;
  multipartBytes: number;
}

const isFinalChunk = (r: RequestInfo) => {
  const range = r.headers['content-range'];
  return r.operation === 'ResumableChunk' && typeof range === 'string' && !range.endsWith('/*');
};

const PROFILES: Record<BackendName, Profile> = {
  s3: {
    wholePut: 'PutObject',
    part: 'UploadPart',
    commit: 'CompleteMultipartUpload',
    abortUpload: 'AbortMultipartUpload',
    cleanup: ['AbortMultipartUpload'],
    bulkRemove: 'DeleteObjects',
    read: 'GetObject',
    head: 'HeadObject',
    remove: 'DeleteObject',
    smallParts: { partSize: 5 * MiB },
    multipartBytes: 11 * MiB,
  },
  gcs: {
    wholePut: 'InsertObject',
    part: 'ResumableChunk',
    commit: isFinalChunk,
    abortUpload: 'CancelResumable',
    cleanup: ['CancelResumable'],
    bulkRemove: 'DeleteObject',
    read: 'Download',
    head: 'GetObject',
    remove: 'DeleteObject',
    smallParts: { chunkSize: 1 * MiB, resumableThreshold: 1 * MiB },
    multipartBytes: 3 * MiB + 12_345,
  },
  azure: {
    wholePut: 'PutBlob',
    part: 'StageBlock',
    commit: 'CommitBlockList',
    cleanup: ['GetBlobProperties', 'GetBlockList', 'DeleteBlob'],
    bulkRemove: 'BlobBatch',
    read: 'Download',
    head: 'GetBlobProperties',
    remove: 'DeleteBlob',
    smallParts: { blockSize: 1 * MiB },
    multipartBytes: 3 * MiB + 12_345,
  },
};

function on(operation: string | ((r: RequestInfo) => boolean)): Pick<FaultRule, 'operation' | 'where'> {
  return typeof operation === 'string' ? { operation } : { where: operation };
}

/** Deterministic bytes per (seed, index): xorshift32, so any block can be regenerated to check. */
export function block(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, length >>> 2);
  let state = (Math.imul(seed + 1, 2654435761) >>> 0) || 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  for (let i = words.length * 4; i < length; i++) out[i] = (state = (state * 33 + i) >>> 0) & 0xff;
  return out;
}

/** A 3 MiB read on loopback takes well under a second; ten seconds without an answer is a hang. */
const READ_DEADLINE_MS = 10_000;

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Fails instead of hanging: a read that never ends is a bug of its own. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms / 1000} s (hung)`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function outcome<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Records every retry of a filesystem's policy (delay and error), for assertions on backoff. */
function recordRetries(fs: FileSystem): RetryEvent[] {
  const events: RetryEvent[] = [];
  (fs as AdaptedFileSystem).retry.onRetry = (event) => events.push(event);
  return events;
}

export function describeFaultSuite(name: BackendName): void {
  const profile = PROFILES[name];

  describe(`${name}: writes and reads under injected faults`, () => {
    let server: ServerProbe;
    let bucket: string;
    let proxy: FaultProxy;
    let direct: FileSystem;
    const opened: FileSystem[] = [];
    let counter = 0;
    const totals = { injected: 0, bytesVerified: 0 };

    /** A filesystem through the proxy; closed after the suite. */
    const viaProxy = (retry: RetryOptions = faultRetry(11, 30_000), extra: Record<string, unknown> = {}) => {
      const fs = makeFs(name, { origin: proxy.url, retry, extra });
      opened.push(fs);
      return fs;
    };
    const freshPath = (label: string) => `${bucket}/${label}-${++counter}`;
    const withRules = (rules: FaultRule[]) => {
      totals.injected += proxy.stats.injected;
      proxy.resetStats();
      proxy.setRules(rules);
    };

    beforeAll(async () => {
      server = probe(name);
      bucket = uniqueName(`rel-faults-${name}`);
      await server.createBucket(bucket);
      proxy = await startProxy(name, [], 21, STALL_MS);
      direct = makeFs(name);
    });

    afterAll(async () => {
      totals.injected += proxy?.stats.injected ?? 0;
      report(`write-read-faults/${name}`, totals);
      await Promise.all(opened.map((fs) => fs.close()));
      await direct?.close();
      await proxy?.close();
      await server?.destroyBucket(bucket).catch(() => undefined);
      server?.close();
    });

    describe('a retried conditional create never reports AlreadyExistsError for its own earlier attempt', () => {
      it('single-request create: the server stores the object, the answer is lost, the retry succeeds', async () => {
        const path = freshPath('create-small');
        const rule: FaultRule = { name: 'lost answer', ...on(profile.wholePut), fault: 'drop-response', times: 1 };
        withRules([rule]);
        await viaProxy().pipe(path, 'created once', { mode: 'create' });
        expect(proxy.injectedBy(rule), 'the answer was dropped').toBe(1);
        expect(new TextDecoder().decode(await direct.cat(path))).toBe('created once');
        // The object is really there: a second create is refused.
        withRules([]);
        await expect(viaProxy().pipe(path, 'again', { mode: 'create' })).rejects.toBeInstanceOf(AlreadyExistsError);
      });

      it('single-request create whose first answer is lost and whose ownership check fails once', async () => {
        const path = freshPath('create-check');
        const lost: FaultRule = { name: 'lost answer', ...on(profile.wholePut), fault: 'drop-response', times: 1 };
        // The retry finds the key taken and asks the server whose object it is; that question fails once.
        const check: FaultRule = { name: 'check fails', operation: profile.head, where: () => proxy.injectedBy(lost) > 0, fault: '503', times: 1 };
        withRules([lost, check]);
        await viaProxy().pipe(path, 'created once', { mode: 'create' });
        expect(proxy.injectedBy(lost)).toBe(1);
        expect(proxy.injectedBy(check), 'the ownership check failed once').toBe(1);
        expect(new TextDecoder().decode(await direct.cat(path))).toBe('created once');
      });

      // Only Azure looks before a create (to fail before staging blocks); S3 and GCS send the conditional write at once.
      it.runIf(name === 'azure')('a transient failure while a create checks the target first is retried', async () => {
        const path = freshPath('create-precheck');
        const rule: FaultRule = { name: 'first metadata request', operation: profile.head, fault: '503', times: 1 };
        withRules([rule]);
        await viaProxy().pipe(path, 'created', { mode: 'create' });
        expect(proxy.injectedBy(rule)).toBe(1);
        expect(new TextDecoder().decode(await direct.cat(path))).toBe('created');
      });

      it('multi-part create: the commit is carried out, its answer is lost, the retry succeeds', async () => {
        const path = freshPath('create-large');
        const data = block(profile.multipartBytes, 1);
        const rule: FaultRule = { name: 'lost commit answer', ...on(profile.commit), fault: 'drop-response', times: 1 };
        withRules([rule]);
        const fs = viaProxy(faultRetry(12, 30_000), profile.smallParts);
        const handle = await fs.open(path, 'xb');
        for (let offset = 0; offset < data.length; offset += 700 * KiB) await handle.write(data.subarray(offset, offset + 700 * KiB));
        await handle.commit();
        expect(proxy.injectedBy(rule)).toBe(1);
        expect(sha256(await direct.cat(path))).toBe(sha256(data));
        totals.bytesVerified += data.length;
      });

      it('a create that loses the race to another writer still reports AlreadyExistsError', async () => {
        const path = freshPath('create-race');
        // Opened while the path is free (Azure checks here), then the other writer gets in first.
        const handle = await viaProxy().open(path, 'xb');
        await direct.pipe(path, 'the other writer');
        const rule: FaultRule = { name: 'first try fails', ...on(profile.wholePut), fault: '503', times: 1 };
        withRules([rule]);
        await handle.write('mine');
        await expect(handle.commit()).rejects.toBeInstanceOf(AlreadyExistsError);
        expect(proxy.injectedBy(rule), 'the refusal came on a retry').toBe(1);
        expect(new TextDecoder().decode(await direct.cat(path))).toBe('the other writer');
      });
    });

    it('a lost answer to a delete is not reported as NotFoundError on the retry', async () => {
      const path = freshPath('delete');
      await direct.pipe(path, 'doomed');
      const rule: FaultRule = { name: 'lost delete answer', operation: profile.remove, fault: 'drop-response', times: 1 };
      withRules([rule]);
      await viaProxy().rm(path);
      expect(proxy.injectedBy(rule)).toBe(1);
      expect(await direct.exists(path)).toBe(false);
    });

    it('a 256 MiB streamed write commits byte-exact while parts, commit and reads are faulted', async () => {
      const path = freshPath('big');
      const chunk = 4 * MiB;
      const chunks = 64;
      const faults: FaultSpec[] = ['500', '503', '503-retry-after', 'slow-down', 'reset-request', 'reset-response', 'drop-response', 'truncate-body', 'stall'];
      const partRule: FaultRule = { name: 'every 3rd part', operation: profile.part, every: 3, fault: faults };
      const startRule: FaultRule = { name: 'start', operation: ['CreateMultipartUpload', 'StartResumable'], fault: 'reset-response', times: 1 };
      const commitRule: FaultRule = { name: 'commit', ...on(profile.commit), fault: 'drop-response', times: 1 };
      // Cut-short bodies have their own tests below; here reads fail with resets and 5xx.
      const readRule: FaultRule = { name: 'reads', operation: profile.read, every: 4, fault: ['reset-response', '503', '500'] };
      // The commit rule first: on GCS the commit is the final chunk, which the part rule matches too.
      withRules([commitRule, partRule, startRule, readRule]);
      // A stall costs one per-try timeout; 30 s is far above a healthy part upload even on a busy machine.
      const fs = viaProxy(faultRetry(13, 30_000));
      const started = Date.now();
      const expected = createHash('sha256');
      const handle = await fs.open(path, 'wb');
      for (let i = 0; i < chunks; i++) {
        const bytes = block(chunk, 1000 + i);
        expected.update(bytes);
        await handle.write(bytes);
      }
      await handle.commit();
      const writeMs = Date.now() - started;
      const want = expected.digest('hex');
      // Read back through the proxy, block by block (every 4th block request faulted), hashing as we go.
      const readStarted = Date.now();
      const reader = await fs.open(path, 'rb');
      expect(reader.size).toBe(chunk * chunks);
      const got = createHash('sha256');
      let length = 0;
      for (let piece = await reader.read(8 * MiB); piece.length > 0; piece = await reader.read(8 * MiB)) {
        got.update(piece);
        length += piece.length;
      }
      await reader.close();
      expect(length).toBe(chunk * chunks);
      expect(got.digest('hex')).toBe(want);
      totals.bytesVerified += length;
      const stats = proxy.stats;
      report(`256MiB-write/${name}`, {
        bytes: length,
        writeMs,
        readMs: Date.now() - readStarted,
        faults: stats.faults,
        byOperation: stats.byOperation,
        injected: stats.injected,
      });
      expect(proxy.injectedBy(partRule), 'part faults').toBeGreaterThanOrEqual(5);
      expect(proxy.injectedBy(commitRule), 'commit answer lost').toBe(1);
      expect(proxy.injectedBy(readRule), 'read faults').toBeGreaterThanOrEqual(5);
      expect(stats.injected).toBeGreaterThanOrEqual(8);
    });

    describe('faults during writes never leave a visible partial object', () => {
      it('while parts are failing and being retried, readers see only the previous object', async () => {
        const path = freshPath('visible');
        const previous = block(100_000, 7);
        await direct.pipe(path, previous);
        const before = await direct.info(path);
        withRules([{ name: 'parts', operation: profile.part, every: 2, fault: ['500', 'reset-request', 'drop-response', 'truncate-body'] }]);
        const fs = viaProxy(faultRetry(14, 30_000), profile.smallParts);
        const next = block(profile.multipartBytes, 8);
        const handle = await fs.open(path, 'wb');
        const third = Math.floor(next.length / 3);
        for (const [from, to] of [[0, third], [third, 2 * third], [2 * third, next.length]] as const) {
          await handle.write(next.subarray(from, to));
          // Between writes, parts are on the server but nothing is visible.
          expect((await direct.info(path)).etag).toBe(before.etag);
          expect(sha256(await direct.cat(path))).toBe(sha256(previous));
          expect(await direct.find(`${bucket}`)).toContain(path);
        }
        await handle.commit();
        expect(sha256(await direct.cat(path))).toBe(sha256(next));
        expect(proxy.stats.injected).toBeGreaterThan(0);
      });

      it('a new path stays absent until commit, even with parts faulted', async () => {
        const path = freshPath('absent');
        // The first part sent is faulted (parts go out in the background while the caller writes).
        const rule: FaultRule = { name: 'parts', operation: profile.part, times: 1, fault: ['503', 'reset-response'] };
        withRules([rule]);
        const fs = viaProxy(faultRetry(15, 30_000), profile.smallParts);
        const handle = await fs.open(path, 'wb');
        await handle.write(block(profile.multipartBytes, 9));
        await vi.waitFor(() => expect(proxy.injectedBy(rule), 'a part faulted').toBe(1), { timeout: 10_000 });
        expect(await direct.exists(path)).toBe(false);
        expect(await server.listKeys(bucket, path)).toEqual([]);
        await handle.abort();
        expect(await direct.exists(path)).toBe(false);
        expect(await server.leftovers(bucket, path), 'server-side leftovers after abort').toEqual([]);
      });
    });

    describe('after a write that finally fails, nothing is left behind', () => {
      const finalFailure = async (label: string, rules: FaultRule[], existing?: Uint8Array) => {
        const path = freshPath(label);
        if (existing) await direct.pipe(path, existing);
        withRules(rules);
        const fs = viaProxy({ attempts: 3, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 30_000 }, profile.smallParts);
        const result = await outcome(
          (async () => {
            const handle = await fs.open(path, 'wb');
            await handle.write(block(profile.multipartBytes, 10));
            await handle.commit();
          })(),
        );
        expect(result.ok, 'the write failed').toBe(false);
        expect((result as { error: unknown }).error).toBeInstanceOf(FsError);
        if (existing) expect(sha256(await direct.cat(path)), 'previous object intact').toBe(sha256(existing));
        else {
          expect(await direct.exists(path), 'no visible object').toBe(false);
          expect(await server.listKeys(bucket, path), 'no committed object').toEqual([]);
        }
        return path;
      };

      it('every part upload fails: no object, no in-progress upload', async () => {
        const path = await finalFailure('parts-fail', [{ name: 'all parts', operation: profile.part, fault: '500' }]);
        expect(await server.leftovers(bucket, path)).toEqual([]);
      });

      it('every part upload fails over an existing object: it stays as it was, no in-progress upload', async () => {
        const path = await finalFailure('parts-fail-existing', [{ name: 'all parts', operation: profile.part, fault: 'reset-request' }], block(50_000, 11));
        expect(await server.leftovers(bucket, path)).toEqual([]);
      });

      it('every commit fails: no object, no in-progress upload', async () => {
        const path = await finalFailure('commit-fail', [{ name: 'commit', ...on(profile.commit), fault: '500' }]);
        expect(await server.leftovers(bucket, path)).toEqual([]);
      });

      // Only S3 keeps (and bills) what an unfinished upload left: a GCS session never becomes visible
      // and expires on its own (its cancel is best effort), and Azure has no cleanup request at all.
      it.runIf(name === 's3')('every part fails and the first cleanup request fails too: the cleanup is retried', async () => {
        const path = await finalFailure('abort-fails-once', [
          { name: 'all parts', operation: profile.part, fault: '500' },
          { name: 'cleanup once', operation: profile.abortUpload!, fault: '503', times: 1 },
        ]);
        expect(proxy.injectedBy('cleanup once'), 'the cleanup request was faulted').toBe(1);
        expect(proxy.stats.operations[profile.abortUpload!] ?? 0, 'cleanup requests sent (the faulted one and a retry)').toBeGreaterThanOrEqual(2);
        expect(await server.leftovers(bucket, path), 'in-progress uploads left behind').toEqual([]);
      });
    });

    describe('an abort never hangs on stalled cleanup requests, and nothing becomes visible', () => {
      it("the caller's signal fires while parts and cleanup stall: the write rejects at once with AbortError, the cleanup is still sent", async () => {
        const path = freshPath('signal-abort');
        withRules([{ name: 'parts and cleanup', operation: [profile.part, ...profile.cleanup], fault: 'stall' }]);
        const fs = viaProxy(faultRetry(19, 30_000), profile.smallParts);
        const caller = new AbortController();
        const handle = await fs.open(path, 'wb', { signal: caller.signal });
        const timer = setTimeout(() => caller.abort(new Error('user gave up')), 1_000);
        const started = Date.now();
        const write = async () => {
          await handle.write(block(profile.multipartBytes, 20));
          await handle.commit();
        };
        const result = await outcome(withDeadline(write(), 10_000, 'aborted write'));
        clearTimeout(timer);
        expect(result.ok, 'the write failed').toBe(false);
        expect((result as { error: unknown }).error).toBeInstanceOf(AbortError);
        // At once: the stalled cleanup (held 15 s by the proxy) is not awaited.
        expect(Date.now() - started).toBeLessThan(5_000);
        await vi.waitFor(() => expect(proxy.stats.operations[profile.cleanup[0]!] ?? 0, 'cleanup request sent').toBeGreaterThanOrEqual(1), { timeout: 10_000 });
        expect(await direct.exists(path)).toBe(false);
        expect(await server.listKeys(bucket, path)).toEqual([]);
      });

      it('an explicit abort() whose cleanup stalls resolves once the cleanup bound (15 s) runs out', async () => {
        // A proxy that holds stalls longer than the bound, so only the bound can end the wait.
        const slow = await startProxy(name, [], 22, 60_000);
        try {
          const path = freshPath('explicit-abort');
          const fs = makeFs(name, { origin: slow.url, retry: faultRetry(20, 30_000), extra: profile.smallParts });
          opened.push(fs);
          const handle = await fs.open(path, 'wb');
          await handle.write(block(profile.multipartBytes, 21));
          slow.setRules([{ name: 'cleanup', operation: profile.cleanup, fault: 'stall' }]);
          const started = Date.now();
          await withDeadline(handle.abort(), 30_000, 'explicit abort');
          const elapsed = Date.now() - started;
          expect(elapsed).toBeGreaterThanOrEqual(14_000);
          expect(elapsed).toBeLessThan(25_000);
          expect(slow.stats.operations[profile.cleanup[0]!] ?? 0, 'cleanup request sent').toBeGreaterThanOrEqual(1);
          expect(await direct.exists(path)).toBe(false);
          expect(await server.listKeys(bucket, path)).toEqual([]);
        } finally {
          await slow.close();
        }
      }, 60_000);
    });

    it("rm -r honours the caller's signal when the delete requests stall", async () => {
      const dir = freshPath('rm-stall');
      for (let i = 0; i < 5; i++) await direct.pipe(`${dir}/f${i}.txt`, `f${i}`);
      withRules([{ name: 'deletes', operation: profile.bulkRemove, fault: 'stall' }]);
      const started = Date.now();
      const result = await outcome(withDeadline(viaProxy().rm(dir, { recursive: true, signal: AbortSignal.timeout(800) }), 6_000, 'rm -r'));
      expect(result.ok).toBe(false);
      expect((result as { error: unknown }).error).toBeInstanceOf(AbortError);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(proxy.stats.operations[profile.bulkRemove], 'a delete request was stalled').toBeGreaterThanOrEqual(1);
    });

    describe('a body cut short on a read is detected, never returned as data', () => {
      let path: string;
      let data: Uint8Array;
      beforeAll(async () => {
        path = `${bucket}/read-source.bin`;
        data = block(3 * MiB + 333, 12);
        await direct.pipe(path, data);
      });

      const reads = (fs: FileSystem) => ({
        'cat whole': async () => fs.cat(path),
        'cat range': async () => fs.cat(path, { start: 1000, end: 2 * MiB }),
        'read handle': async () => {
          const handle = await fs.open(path, 'rb');
          try {
            return await handle.read();
          } finally {
            await handle.close();
          }
        },
        'streamed handle': async () => {
          const handle = await fs.open(path, 'rb');
          const parts: Uint8Array[] = [];
          for await (const piece of handle.stream() as unknown as AsyncIterable<Uint8Array>) parts.push(piece);
          await handle.close();
          return Buffer.concat(parts);
        },
      });
      const expectedFor = (label: string) => (label === 'cat range' ? data.subarray(1000, 2 * MiB) : data);

      for (const keep of [0.5, 0.999]) {
        it(`with retries, every read returns the full bytes (bodies cut to ${keep * 100}%)`, async () => {
          // Read-handle blocks smaller than the object, so streamed reads take the adapter's stream path.
          // A per-try timeout far above the deadline: recovering must not depend on it.
          const fs = viaProxy(faultRetry(16, 120_000), { blockSize: 1 * MiB });
          for (const [label, read] of Object.entries(reads(fs))) {
            const rule: FaultRule = { name: label, operation: profile.read, fault: { kind: 'truncateBody', keep }, times: 2 };
            withRules([rule]);
            const bytes = await withDeadline(read(), READ_DEADLINE_MS, label);
            expect(proxy.injectedBy(rule), `${label}: faults injected`).toBeGreaterThanOrEqual(1);
            expect(bytes.length, `${label}: length`).toBe(expectedFor(label).length);
            expect(sha256(bytes), `${label}: content`).toBe(sha256(expectedFor(label)));
            totals.bytesVerified += bytes.length;
          }
        });
      }

      it('without retries, a cut-short body is an error, not short data', async () => {
        const fs = viaProxy({ attempts: 1 }, { blockSize: 1 * MiB });
        for (const [label, read] of Object.entries(reads(fs))) {
          withRules([{ name: label, operation: profile.read, fault: { kind: 'truncateBody', keep: 0.9 } }]);
          const result = await outcome(withDeadline(read(), READ_DEADLINE_MS, label));
          if (result.ok) {
            // Only acceptable if the bytes are nevertheless complete and right (they cannot be).
            expect(result.value.length, `${label}: returned ${result.value.length} bytes instead of failing`).toBe(-1);
          }
          expect((result as { error: unknown }).error, `${label}: typed error`).toBeInstanceOf(FsError);
          expect(((result as { error: FsError }).error).retryable, `${label}: marked retryable`).toBe(true);
        }
      });

      it('a connection reset mid-response is retried to the full bytes', async () => {
        const fs = viaProxy(faultRetry(17, 120_000), { blockSize: 1 * MiB });
        for (const [label, read] of Object.entries(reads(fs))) {
          const rule: FaultRule = { name: label, operation: profile.read, fault: 'reset-response', times: 2 };
          withRules([rule]);
          const bytes = await withDeadline(read(), READ_DEADLINE_MS, label);
          expect(proxy.injectedBy(rule), `${label}: faults injected`).toBeGreaterThanOrEqual(1);
          expect(sha256(bytes), label).toBe(sha256(expectedFor(label)));
        }
      });

      it('a stalled read is cut off by the per-try timeout and retried', async () => {
        const fs = viaProxy(faultRetry(18, 1_500));
        const rule: FaultRule = { name: 'stall', operation: profile.read, fault: 'stall', times: 1 };
        withRules([rule]);
        const started = Date.now();
        const bytes = await fs.cat(path);
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
        expect(proxy.injectedBy(rule)).toBe(1);
        expect(sha256(bytes)).toBe(sha256(data));
      });
    });

    it('503 with Retry-After and throttling answers are honoured', async () => {
      const fs = viaProxy({ attempts: 4, baseDelayMs: 5, maxDelayMs: 1_000 });
      const retries = recordRetries(fs);
      const path = `${bucket}/read-source.bin`;
      withRules([{ name: 'retry-after', operation: profile.head, fault: { kind: 'status', status: 503, retryAfterSeconds: 1 }, times: 1 }]);
      await fs.info(path);
      expect(retries.map((r) => Math.round(r.delayMs))).toEqual([1000]);
      retries.length = 0;
      withRules([{ name: 'plain 503', operation: profile.head, fault: '503', times: 1 }]);
      await fs.info(path);
      expect(retries).toHaveLength(1);
      expect(retries[0]!.delayMs, 'no hint: ordinary backoff').toBeLessThanOrEqual(5);
      retries.length = 0;
      withRules([{ name: 'throttled', operation: profile.head, fault: { kind: 'slowDown', retryAfterSeconds: 1 }, times: 1 }]);
      await fs.info(path);
      expect(retries.map((r) => Math.round(r.delayMs))).toEqual([1000]);
    });

    it("the SDK's own retries are off: each try of the filesystem is exactly one request", async () => {
      const rule: FaultRule = { name: 'always 500', operation: profile.head, fault: '500' };
      withRules([rule]);
      const fs = viaProxy({ attempts: 3, baseDelayMs: 1, maxDelayMs: 2 });
      await expect(fs.info(`${bucket}/read-source.bin`)).rejects.toBeInstanceOf(FsError);
      expect(proxy.stats.operations[profile.head], 'requests that reached the proxy').toBe(3);
    });

    it('the per-try timeout and the overall deadline bound an operation against a server that never answers', async () => {
      withRules([{ name: 'always stall', operation: profile.head, fault: 'stall' }]);
      const fs = viaProxy({ attempts: 100, baseDelayMs: 1, maxDelayMs: 2, timeoutMs: 400, deadlineMs: 1_500 });
      const started = Date.now();
      const error = await fs.info(`${bucket}/read-source.bin`).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(elapsed).toBeGreaterThanOrEqual(1_000);
      expect(elapsed).toBeLessThan(4_000);
      expect(proxy.stats.operations[profile.head]).toBeGreaterThanOrEqual(3);
      expect(proxy.stats.operations[profile.head]).toBeLessThanOrEqual(5);
    });

    it('a missing object stays NotFoundError under faults (not masked, not retried forever)', async () => {
      const rule: FaultRule = { name: 'first try', operation: profile.head, fault: '500', times: 1 };
      withRules([rule]);
      await expect(viaProxy().info(`${bucket}/no-such-object`)).rejects.toBeInstanceOf(NotFoundError);
      expect(proxy.injectedBy(rule)).toBe(1);
    });
  });
}
