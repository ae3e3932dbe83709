import { createHash, generateKeyPairSync, verify } from 'node:crypto';

import type { Storage } from '@google-cloud/storage';
import { AlreadyExistsError, ConflictError, NotFoundError, NotSupportedError, type FileSystem } from '@strata/fs-core';
import { expectFsError, expectSameBytes } from '@strata/fs-core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GcsAdapter } from '../src/index.js';
import {
  KiB,
  MiB,
  countingBytes,
  createBucket,
  destroyBucket,
  gcsFs,
  rawStorage,
  recordingFetch,
  server,
  startRecordingProxy,
  type RecordedRequest,
} from './helpers.js';

let storage: Storage;
let bucket: string;

beforeAll(async () => {
  storage = rawStorage();
  bucket = await createBucket(storage, 'gcs-specific');
});
afterAll(async () => {
  if (bucket) await destroyBucket(storage, bucket);
});

async function rawBytes(key: string): Promise<Uint8Array> {
  const [buffer] = await storage.bucket(bucket).file(key).download();
  return new Uint8Array(buffer);
}

async function rawExists(key: string): Promise<boolean> {
  const [exists] = await storage.bucket(bucket).file(key).exists();
  return exists;
}

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('base64');

async function writeInPieces(fs: FileSystem, path: string, data: Uint8Array, piece: number, mode: 'wb' | 'xb' = 'wb') {
  const handle = await fs.open(path, mode);
  for (let offset = 0; offset < data.length; offset += piece) await handle.write(data.subarray(offset, offset + piece));
  return handle;
}

function parseRange(put: RecordedRequest): { start: number; end: number; total: string } | { start: undefined; total: string } {
  const full = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(put.contentRange ?? '');
  if (full) return { start: Number(full[1]), end: Number(full[2]), total: full[3]! };
  const sizeOnly = /^bytes \*\/(\d+|\*)$/.exec(put.contentRange ?? '');
  if (sizeOnly) return { start: undefined, total: sizeOnly[1]! };
  throw new Error(`unexpected Content-Range ${put.contentRange}`);
}

describe('uploads', () => {
  it('small data goes up as one multipart request at commit, nothing before', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ fetch: recorder.fetch });
    const data = countingBytes(100 * KiB);
    const handle = await writeInPieces(fs, `${bucket}/small/one.bin`, data, 7_000);
    expect(recorder.calls).toEqual([]);
    await handle.commit();
    expect(recorder.calls.map((c) => c.method)).toEqual(['POST']);
    expect(recorder.calls[0]!.url).toContain('uploadType=multipart');
    expectSameBytes(await rawBytes('small/one.bin'), data);
  });

  it('resumable upload above the threshold: chunks stream to the emulator session while writing, and every byte arrives', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, resumableThreshold: 256 * KiB, fetch: recorder.fetch });
    const total = 5 * 256 * KiB + 12_345;
    const data = countingBytes(total);
    const handle = await writeInPieces(fs, `${bucket}/resumable/big.bin`, data, 100_003);

    // Fed while writing: five full chunks are already on the server, yet nothing is visible.
    expect(recorder.calls.filter((c) => c.method === 'PUT')).toHaveLength(5);
    expect(await rawExists('resumable/big.bin')).toBe(false);
    await handle.commit();

    const [open, ...puts] = recorder.calls;
    expect(open!.method).toBe('POST');
    expect(open!.url).toContain('uploadType=resumable');
    const origin = new URL(server().endpoint).origin;
    let next = 0;
    puts.forEach((put, i) => {
      const last = i === puts.length - 1;
      expect(put.method).toBe('PUT');
      expect(new URL(put.url).origin, 'session URI points at the emulator').toBe(origin);
      expect(put.url).toContain('upload_id=');
      const range = parseRange(put);
      expect(range.start).toBe(next);
      if (range.start !== undefined) next = range.end + 1;
      expect(range.total).toBe(last ? String(total) : '*');
      expect(last ? [200, 201] : [308]).toContain(put.status);
      if (!last) expect(put.bodyBytes).toBe(256 * KiB);
    });
    expect(next).toBe(total);

    expectSameBytes(await rawBytes('resumable/big.bin'), data);
    const [metadata] = await storage.bucket(bucket).file('resumable/big.bin').getMetadata();
    expect(metadata.md5Hash).toBe(md5(data));
  });

  it('a size that is an exact multiple of the chunk is finalised by an empty PUT (bytes */total)', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, fetch: recorder.fetch });
    const data = countingBytes(2 * 256 * KiB, 4_000_000);
    const handle = await writeInPieces(fs, `${bucket}/resumable/exact.bin`, data, 64 * KiB);
    await handle.commit();
    const puts = recorder.calls.filter((c) => c.method === 'PUT').map((c) => c.contentRange);
    expect(puts).toEqual(['bytes 0-262143/*', 'bytes 262144-524287/*', 'bytes */524288']);
    expectSameBytes(await rawBytes('resumable/exact.bin'), data);
  });

  it('between the threshold and one chunk: a resumable session with a single final chunk', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, resumableThreshold: 64 * KiB, fetch: recorder.fetch });
    const data = countingBytes(200 * KiB, 77);
    await fs.pipe(`${bucket}/resumable/one-chunk.bin`, data);
    expect(recorder.calls.map((c) => `${c.method} ${c.contentRange ?? ''}`.trim())).toEqual([
      'POST',
      `PUT bytes 0-${200 * KiB - 1}/${200 * KiB}`,
    ]);
    expect(recorder.calls[0]!.url).toContain('uploadType=resumable');
    expectSameBytes(await rawBytes('resumable/one-chunk.bin'), data);
  });

  it('a threshold above the chunk size holds data back and still sends it in one request', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, resumableThreshold: 1024 * KiB, fetch: recorder.fetch });
    const small = countingBytes(900 * KiB, 5);
    await fs.pipe(`${bucket}/held/small.bin`, small);
    expect(recorder.calls.map((c) => c.method)).toEqual(['POST']);
    expect(recorder.calls[0]!.url).toContain('uploadType=multipart');
    recorder.calls.length = 0;
    const large = countingBytes(1300 * KiB, 9);
    await fs.pipe(`${bucket}/held/large.bin`, large);
    expect(recorder.calls[0]!.url).toContain('uploadType=resumable');
    expect(recorder.calls.filter((c) => c.method === 'PUT')).toHaveLength(Math.ceil(large.length / (256 * KiB)));
    expectSameBytes(await rawBytes('held/small.bin'), small);
    expectSameBytes(await rawBytes('held/large.bin'), large);
  });

  // Through one reused 16-byte buffer, so the writer must copy what it keeps.
  async function writeTiny(handle: { write(chunk: Uint8Array): Promise<unknown> }, data: Uint8Array): Promise<void> {
    const scratch = new Uint8Array(16);
    for (let offset = 0; offset < data.length; offset += 16) {
      scratch.set(data.subarray(offset, offset + 16));
      await handle.write(scratch);
    }
  }

  it('many tiny writes below the threshold still go up as one multipart request, bytes exact', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, resumableThreshold: 3 * MiB, fetch: recorder.fetch });
    const data = countingBytes(3 * MiB, 11);
    const handle = await fs.open(`${bucket}/tiny/held.bin`, 'wb');
    await writeTiny(handle, data);
    await handle.commit();
    expect(recorder.calls.map((c) => c.method)).toEqual(['POST']);
    expect(recorder.calls[0]!.url).toContain('uploadType=multipart');
    expectSameBytes(await rawBytes('tiny/held.bin'), data);
  });

  it('196,608 writes of 16 B then one that crosses the threshold: the crossing write is quick (no quadratic drain) and every byte arrives', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, resumableThreshold: 3 * MiB, fetch: recorder.fetch });
    const data = countingBytes(3 * MiB + 100_000, 13);
    const handle = await fs.open(`${bucket}/tiny/crossing.bin`, 'wb');
    await writeTiny(handle, data.subarray(0, 3 * MiB));
    expect(recorder.calls).toEqual([]);
    const started = performance.now();
    await handle.write(data.subarray(3 * MiB));
    // Held as an array of slices drained with shift() (quadratic), this write took ~50 s.
    expect(performance.now() - started).toBeLessThan(10_000);
    await handle.commit();
    expect(recorder.calls[0]!.url).toContain('uploadType=resumable');
    expect(recorder.calls.filter((c) => c.method === 'PUT')).toHaveLength(Math.ceil(data.length / (256 * KiB)));
    expectSameBytes(await rawBytes('tiny/crossing.bin'), data);
  });

  it('abort after chunks were sent cancels the session (DELETE → 499) and leaves no object', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, fetch: recorder.fetch });
    const handle = await writeInPieces(fs, `${bucket}/aborted/big.bin`, countingBytes(600 * KiB), 50 * KiB);
    const session = recorder.calls.find((c) => c.method === 'PUT')!.url;
    expect(recorder.calls.filter((c) => c.method === 'PUT')).toHaveLength(2);
    await handle.abort();
    const cancel = recorder.calls.at(-1)!;
    expect(cancel.method).toBe('DELETE');
    expect(cancel.url).toBe(session);
    expect(cancel.status).toBe(499);
    expect(await rawExists('aborted/big.bin')).toBe(false);
    expect(await fs.find(`${bucket}/aborted`)).toEqual([]);
    await expect(handle.commit()).rejects.toThrow(/aborted/);
  });

  it('dispose without commit (await using) cancels the session too', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ chunkSize: 256 * KiB, fetch: recorder.fetch });
    {
      await using handle = await fs.open(`${bucket}/aborted/disposed.bin`, 'wb');
      await handle.write(countingBytes(300 * KiB));
    }
    expect(recorder.calls.at(-1)!.method).toBe('DELETE');
    expect(await rawExists('aborted/disposed.bin')).toBe(false);
  });

  for (const [label, size] of [
    ['single-request', 10 * KiB],
    ['resumable', 600 * KiB],
  ] as const) {
    it(`create-only race of two ${label} writers on one new path: exactly one wins (ifGenerationMatch: 0)`, async () => {
      const fs = gcsFs({ chunkSize: 256 * KiB });
      const path = `${bucket}/race/${label}.bin`;
      const payloads = [countingBytes(size, 0), countingBytes(size, 1 << 24)];
      const handles = await Promise.all(payloads.map(() => fs.open(path, 'xb')));
      // Both writers have streamed everything but the commit.
      await Promise.all(handles.map((h, i) => h.write(payloads[i]!)));
      const results = await Promise.allSettled(handles.map((h) => h.commit()));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(loser.reason).toBeInstanceOf(AlreadyExistsError);
      expect((loser.reason as Error).message).toContain(path);
      expectSameBytes(await rawBytes(`race/${label}.bin`), payloads[winners[0]!]!);
    });
  }

  it("'xb' over an existing object fails with AlreadyExistsError and keeps the old bytes (resumable path too)", async () => {
    const fs = gcsFs({ chunkSize: 256 * KiB });
    const path = `${bucket}/race/existing.bin`;
    await fs.pipe(path, 'old');
    // fake-gcs-server checks the precondition at the final chunk; real GCS may refuse the session already.
    await expectFsError(
      (async () => {
        const handle = await writeInPieces(fs, path, countingBytes(700 * KiB), 100 * KiB, 'xb');
        await handle.commit();
      })(),
      AlreadyExistsError,
    );
    expect(new TextDecoder().decode(await rawBytes('race/existing.bin'))).toBe('old');
  });
});

describe('listings', () => {
  it('pagination over 2,500 objects: ls and find follow page tokens (1,000 a page) and see every entry once', async () => {
    const recorder = recordingFetch();
    const requests = () => recorder.calls.map((c) => `${c.method} ${c.url}`);
    const fs = gcsFs({ fetch: recorder.fetch, concurrency: 64 });
    const names = Array.from({ length: 2500 }, (_, i) => `paged/f${String(i).padStart(4, '0')}.txt`);
    const subdirs = Array.from({ length: 5 }, (_, i) => `paged/sub${i}/x.txt`);
    let next = 0;
    const all = [...names, ...subdirs];
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < all.length) {
          const name = all[next++]!;
          await fs.pipe(`${bucket}/${name}`, name);
        }
      }),
    );

    recorder.calls.length = 0;
    const listed = await fs.ls(`${bucket}/paged`);
    const pages = requests().filter((r) => r.startsWith('GET') && r.includes(`/b/${bucket}/o?`));
    expect(pages).toHaveLength(3);
    expect(pages.slice(1).every((r) => r.includes('pageToken='))).toBe(true);
    expect(listed).toHaveLength(2505);
    expect(new Set(listed.map((e) => e.name)).size).toBe(2505);
    expect(listed.filter((e) => e.type === 'directory').map((e) => e.name)).toEqual(
      Array.from({ length: 5 }, (_, i) => `${bucket}/paged/sub${i}`),
    );

    recorder.calls.length = 0;
    const found = await fs.find(`${bucket}/paged`);
    expect(requests().filter((r) => r.includes(`/b/${bucket}/o?`) && !r.includes('delimiter'))).toHaveLength(3);
    expect(found).toEqual(all.map((n) => `${bucket}/${n}`).sort());
    expect(await fs.du(`${bucket}/paged`)).toBe(all.reduce((sum, n) => sum + n.length, 0));
  });

  it('a zero-byte "dir/" marker object is a directory, never a file', async () => {
    await storage.bucket(bucket).file('markers/empty/').save('', { resumable: false });
    await storage.bucket(bucket).file('markers/full/').save('', { resumable: false });
    await storage.bucket(bucket).file('markers/full/a.txt').save('a', { resumable: false });
    const fs = gcsFs();
    expect(await fs.ls(`${bucket}/markers`)).toMatchObject([
      { name: `${bucket}/markers/empty`, type: 'directory' },
      { name: `${bucket}/markers/full`, type: 'directory' },
    ]);
    expect((await fs.info(`${bucket}/markers/empty`)).type).toBe('directory');
    expect(await fs.ls(`${bucket}/markers/empty`)).toEqual([]);
    expect(await fs.ls(`${bucket}/markers/full`)).toMatchObject([{ name: `${bucket}/markers/full/a.txt`, type: 'file' }]);
    expect(await fs.find(`${bucket}/markers`)).toEqual([`${bucket}/markers/full/a.txt`]);
    expect(await fs.find(`${bucket}/markers`, { withDirs: true })).toEqual([
      `${bucket}/markers`,
      `${bucket}/markers/empty`,
      `${bucket}/markers/full`,
      `${bucket}/markers/full/a.txt`,
    ]);
  });
});

describe('reads', () => {
  it('a generation-pinned read fails with ConflictError once the object is overwritten (fake-gcs-server ignores ifGenerationMatch on reads; there the vanished generation 404s, real GCS answers 412)', async () => {
    const proxy = await startRecordingProxy(server().endpoint);
    const fs = gcsFs({ apiEndpoint: proxy.endpoint, blockSize: 4 * KiB });
    const path = `${bucket}/pinned/v1.bin`;
    const data = countingBytes(64 * KiB);
    await fs.pipe(path, data);

    const handle = await fs.open(path, 'rb');
    const generation = handle.info.etag!;
    expect(generation).toMatch(/^\d+$/);
    expectSameBytes(await handle.read(4 * KiB), data.subarray(0, 4 * KiB), 'first block');
    const read = proxy.requests.find((r) => r.includes('alt=media'))!;
    expect(read).toContain(`generation=${generation}`);
    expect(read).toContain(`ifGenerationMatch=${generation}`);

    await storage.bucket(bucket).file('pinned/v1.bin').save(Buffer.from('replaced'), { resumable: false });
    const conflict = await expectFsError(handle.read(4 * KiB), ConflictError);
    expect(conflict.message).toContain(path);
    // The streaming path (readStream, taken for more than one block) is pinned the same way.
    await storage.bucket(bucket).file('pinned/v1.bin').save(Buffer.from(countingBytes(64 * KiB, 1)), { resumable: false });
    const again = await fs.open(path, 'rb');
    const pinned = again.info.etag!;
    await storage.bucket(bucket).file('pinned/v1.bin').save(Buffer.from('replaced again'), { resumable: false });
    const readsBefore = proxy.requests.length;
    await expect(new Response(again.stream()).arrayBuffer()).rejects.toBeInstanceOf(ConflictError);
    const streamed = proxy.requests.slice(readsBefore).filter((r) => r.includes('alt=media'));
    expect(streamed, 'one streaming request for the rest of the object').toHaveLength(1);
    expect(streamed[0]).toContain(`generation=${pinned}`);
    // Unpinned reads see the newest bytes.
    expect(new TextDecoder().decode(await fs.cat(path))).toBe('replaced again');
    await proxy.close();
  });

  it('range reads: start past the end is empty, end clamps, catRanges returns every range', async () => {
    const fs = gcsFs();
    const path = `${bucket}/ranges/data.bin`;
    const data = countingBytes(10_000);
    await fs.pipe(path, data);
    expect(await fs.cat(path, { start: 20_000 })).toHaveLength(0);
    expectSameBytes(await fs.cat(path, { start: 9_000, end: 50_000 }), data.subarray(9_000));
    const starts = [0, 100, 4_000, 9_996];
    const ends = [4, 200, 8_000, 10_000];
    const parts = await fs.catRanges(starts.map(() => path), starts, ends);
    expect(parts).toHaveLength(starts.length);
    parts.forEach((part, i) => expectSameBytes(part, data.subarray(starts[i], ends[i])));
  });
});

describe('copy, move and delete', () => {
  it('cp is a server-side rewrite: no bytes pass through the client', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ fetch: recorder.fetch });
    const data = countingBytes(300 * KiB);
    await storage.bucket(bucket).file('copy/src.bin').save(Buffer.from(data), { resumable: false });
    await fs.cp(`${bucket}/copy/src.bin`, `${bucket}/copy/dst.bin`);
    const rewrites = recorder.calls.filter((c) => c.method === 'POST' && c.url.includes('/rewriteTo/'));
    expect(rewrites.map((c) => new URL(c.url).pathname)).toEqual([`/storage/v1/b/${bucket}/o/copy%2Fsrc.bin/rewriteTo/b/${bucket}/o/copy%2Fdst.bin`]);
    expect(recorder.calls.some((c) => c.url.includes('alt=media') || c.url.includes('/upload/'))).toBe(false);
    expectSameBytes(await rawBytes('copy/dst.bin'), data);
  });

  it('mv is rewrite + delete, not atomic (fake-gcs-server has no objects.move; capabilities.atomicMove is false)', async () => {
    const recorder = recordingFetch();
    const fs = gcsFs({ fetch: recorder.fetch });
    expect(fs.capabilities.atomicMove).toBe(false);
    await fs.pipe(`${bucket}/move/a.txt`, 'moving');
    recorder.calls.length = 0;
    await fs.mv(`${bucket}/move/a.txt`, `${bucket}/move/b.txt`);
    expect(recorder.calls.filter((c) => c.method === 'POST' && c.url.includes('/rewriteTo/'))).toHaveLength(1);
    expect(recorder.calls.filter((c) => c.method === 'DELETE').map((c) => new URL(c.url).pathname)).toEqual([`/storage/v1/b/${bucket}/o/move%2Fa.txt`]);
    expect(await rawExists('move/a.txt')).toBe(false);
    expect(new TextDecoder().decode(await rawBytes('move/b.txt'))).toBe('moving');
  });

  it('removeMany deletes in parallel and treats already-gone objects as deleted', async () => {
    const adapter = new GcsAdapter({ apiEndpoint: server().endpoint, removeConcurrency: 4 });
    const fs = gcsFs();
    const paths = Array.from({ length: 40 }, (_, i) => `${bucket}/bulk/f${i}`);
    await Promise.all(paths.map((p) => fs.pipe(p, 'x')));
    let inFlight = 0;
    let peak = 0;
    const removeOne = adapter.remove.bind(adapter);
    adapter.remove = async (path, options) => {
      peak = Math.max(peak, ++inFlight);
      try {
        await removeOne(path, options);
      } finally {
        inFlight--;
      }
    };
    await adapter.removeMany([...paths, `${bucket}/bulk/never-existed`], {});
    expect(peak, 'deletes in flight at once').toBe(4);
    expect(await fs.find(`${bucket}/bulk`)).toEqual([]);
  });
});

describe('errors', () => {
  it('a missing bucket is NotFoundError naming the bucket (info, ls, find, write)', async () => {
    const fs = gcsFs();
    const missing = 'strata-no-such-bucket-1f2e3d';
    for (const call of [
      () => fs.info(missing),
      () => fs.ls(`${missing}/dir`),
      () => fs.info(`${missing}/dir/file.txt`),
      () => fs.pipe(`${missing}/file.txt`, 'x'),
    ]) {
      const error = await expectFsError(call(), NotFoundError);
      expect(error.message).toContain(`gs://${missing}`);
      expect(error.message).toMatch(/bucket/i);
    }
    expect(await fs.exists(missing)).toBe(false);
    expect(await fs.exists(`${missing}/a/b`)).toBe(false);
  });

  it('mkdir of an existing bucket is AlreadyExistsError without parents, and succeeds with them (as S3, Azure and memory)', async () => {
    const fs = gcsFs();
    await expectFsError(fs.mkdir(bucket, { parents: false }), AlreadyExistsError);
    await fs.mkdir(bucket, { parents: true });
    await fs.mkdir(bucket);
  });

  it('cp into a missing bucket is NotFoundError naming that bucket, not the source', async () => {
    const fs = gcsFs();
    await fs.pipe(`${bucket}/cp-src.txt`, 'x');
    const missing = 'strata-no-such-bucket-9a8b7c';
    const error = await expectFsError(fs.cp(`${bucket}/cp-src.txt`, `${missing}/copy.txt`), NotFoundError);
    expect(error.message).toContain(`gs://${missing}`);
    expect(error.message).toMatch(/bucket/i);
    expect(await fs.exists(`${bucket}/cp-src.txt`)).toBe(true);
  });

  it('a missing object is NotFoundError naming the path; exists() is false', async () => {
    const fs = gcsFs();
    const path = `${bucket}/nothing/here.txt`;
    const error = await expectFsError(fs.info(path), NotFoundError);
    expect(error.message).toContain(`gs://${path}`);
    expect(await fs.exists(path)).toBe(false);
    await expectFsError(fs.rm(path), NotFoundError);
  });
});

describe('signing', () => {
  it('sign() without a service-account key is NotSupportedError (capabilities.sign is false on the emulator)', async () => {
    const fs = gcsFs();
    expect(fs.capabilities.sign).toBe(false);
    await fs.pipe(`${bucket}/signed/a.txt`, 'signed bytes');
    const error = await expectFsError(fs.sign!(`${bucket}/signed/a.txt`, { expiresIn: 60 }), NotSupportedError);
    expect(error.message).toContain('service-account key');
  });

  it('sign() with a generated service-account key makes a V4 URL whose signature verifies (fake-gcs-server serves it without checking the signature)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const clientEmail = 'strata-test@strata-test.iam.gserviceaccount.com';
    const fs = gcsFs({
      credentials: {
        type: 'service_account',
        project_id: 'strata-test',
        client_email: clientEmail,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
    });
    expect(fs.capabilities.sign).toBe(true);
    const path = `${bucket}/signed/b.txt`;
    await fs.pipe(path, 'signed bytes');
    const url = new URL(await fs.sign!(`gs://${path}`, { expiresIn: 600 }));
    const q = url.searchParams;
    expect(url.origin).toBe(new URL(server().endpoint).origin);
    expect(url.pathname).toBe(`/${path}`);
    expect(q.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    expect(q.get('X-Goog-Expires')).toBe('600');
    expect(q.get('X-Goog-SignedHeaders')).toBe('host');
    const credential = q.get('X-Goog-Credential')!;
    expect(credential.startsWith(`${clientEmail}/`)).toBe(true);

    // Rebuild the V4 string-to-sign as Google documents it and check the RSA signature.
    const signature = q.get('X-Goog-Signature')!;
    const canonicalQuery = url.search
      .slice(1)
      .split('&')
      .filter((pair) => !pair.startsWith('X-Goog-Signature='))
      .sort()
      .join('&');
    const canonicalRequest = ['GET', url.pathname, canonicalQuery, `host:${url.hostname}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
    const scope = credential.slice(clientEmail.length + 1);
    const stringToSign = ['GOOG4-RSA-SHA256', q.get('X-Goog-Date'), scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
    const ok = verify('RSA-SHA256', Buffer.from(stringToSign), publicKey, Buffer.from(signature, 'hex'));
    expect(ok).toBe(true);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('signed bytes');
  });
});

describe('configuration', () => {
  it('gs:// and gcs:// name the same store: each filesystem accepts both URL spellings', async () => {
    const gs = gcsFs();
    const gcs = gcsFs({}, 'gcs');
    expect(gs.protocol).toBe('gs');
    expect(gcs.protocol).toBe('gcs');
    await gs.pipe(`gs://${bucket}/alias/x.txt`, 'x');
    expect(new TextDecoder().decode(await gcs.cat(`gs://${bucket}/alias/x.txt`))).toBe('x');
    expect(await gcs.exists(`gcs://${bucket}/alias/x.txt`)).toBe(true);
    expect(gcs.unstripProtocol(`${bucket}/alias/x.txt`)).toBe(`gcs://${bucket}/alias/x.txt`);
    expect(() => new GcsAdapter({ apiEndpoint: server().endpoint }, 's3')).toThrow(/gs:\/\/ and gcs:\/\//);
  });

  for (const form of ['as given', 'with /storage/v1', 'without scheme'] as const) {
    it(`honours STORAGE_EMULATOR_HOST (${form}) for metadata, reads and resumable uploads`, async () => {
      const endpoint = server().endpoint;
      const value = form === 'as given' ? endpoint : form === 'with /storage/v1' ? `${endpoint}/storage/v1` : endpoint.replace(/^http:\/\//, '');
      const saved = process.env['STORAGE_EMULATOR_HOST'];
      process.env['STORAGE_EMULATOR_HOST'] = value;
      try {
        const { createFileSystem } = await import('../src/index.js');
        const fs = createFileSystem({ chunkSize: 256 * KiB });
        const data = countingBytes(300 * KiB, 3);
        const path = `${bucket}/env/${form.replace(/\W+/g, '-')}.bin`;
        await fs.pipe(path, data);
        expect((await fs.info(path)).size).toBe(data.length);
        expectSameBytes(await fs.cat(path), data);
      } finally {
        if (saved === undefined) delete process.env['STORAGE_EMULATOR_HOST'];
        else process.env['STORAGE_EMULATOR_HOST'] = saved;
      }
    });
  }

  it('chunkSize must be a multiple of 256 KiB', () => {
    expect(() => gcsFs({ chunkSize: 1000 })).toThrow(RangeError);
    expect(() => gcsFs({ chunkSize: 3 * 256 * KiB })).not.toThrow();
  });
});
