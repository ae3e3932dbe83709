// Reads and single-request writes skip the SDK's middleware: GetObject and PutObject are signed with
// the SDK's own SigV4 signer and sent with undici. These tests check that the path is taken, that it
// reads and writes exactly what the SDK would, and that a client the caller built keeps the SDK's
// path (its middleware must run).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';

import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AlreadyExistsError, ConflictError, NotFoundError, PermissionDeniedError, StorageError, fromAdapter } from '@strata/fs-core';
import { expectSameBytes, listenOnLoopback } from '@strata/fs-core/testing';
import { request } from 'undici';
import { describe, expect, it, vi } from 'vitest';

import { S3Adapter } from '../src/index.js';
import { SignedRequests } from '../src/signed-requests.js';
import { bucketForThisFile, makeFs, patternBytes, server, serverOptions } from './helpers.js';

const shared = bucketForThisFile();

/** GetObject and PutObject calls made through the SDK client while `fn` runs. */
async function sdkCalls(client: S3Client, fn: () => Promise<void>): Promise<{ gets: number; puts: number }> {
  const send = vi.spyOn(client, 'send');
  try {
    await fn();
    const commands = send.mock.calls.map(([command]) => command);
    return { gets: commands.filter((c) => c instanceof GetObjectCommand).length, puts: commands.filter((c) => c instanceof PutObjectCommand).length };
  } finally {
    send.mockRestore();
  }
}

/** One whole write through the adapter's writer, as fs.pipe makes it. */
async function put(adapter: S3Adapter, path: string, data: Uint8Array, mode: 'create' | 'overwrite' = 'overwrite'): Promise<void> {
  const writer = await adapter.createWriter(path, mode, {});
  await writer.write(data);
  await writer.commit();
}

/** A loopback server that answers every request with `handle`; closed by the returned function. */
async function loopback(handle: (req: IncomingMessage, body: Buffer) => Promise<{ status: number; headers?: Record<string, string>; body?: string }>) {
  const httpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void handle(req, Buffer.concat(chunks)).then((answer) => {
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      });
    });
  });
  return listenOnLoopback(httpServer);
}

describe('reads and writes signed without the SDK middleware', () => {
  it('reads whole objects, ranges and keys with characters that need escaping, with no SDK GetObject', async () => {
    const adapter = new S3Adapter(serverOptions());
    const keys = ['plain.bin', "odd !'()*+&=;,$@ chars.bin", 'ünïcødé/ключ/名前.bin', 'a/b/c%2F~.bin'];
    const data = patternBytes(300_000, 3);
    for (const key of keys) await shared.client.send(new PutObjectCommand({ Bucket: shared.bucket, Key: key, Body: data }));
    const { gets } = await sdkCalls(adapter.client, async () => {
      for (const key of keys) {
        expectSameBytes(await adapter.read(`${shared.bucket}/${key}`, 0, undefined, {}), data, key);
        expectSameBytes(await adapter.read(`${shared.bucket}/${key}`, 1000, 201_000, {}), data.subarray(1000, 201_000), `${key} range`);
        expectSameBytes(await adapter.read(`${shared.bucket}/${key}`, 299_990, undefined, {}), data.subarray(299_990), `${key} tail`);
      }
    });
    expect(gets).toBe(0);
    await adapter.close();
  });

  it('maps error answers as the SDK path does: missing, past the end, changed ETag, wrong key', async () => {
    const adapter = new S3Adapter(serverOptions());
    await shared.client.send(new PutObjectCommand({ Bucket: shared.bucket, Key: 'err.bin', Body: patternBytes(100, 1) }));
    await expect(adapter.read(`${shared.bucket}/missing.bin`, 0, undefined, {})).rejects.toBeInstanceOf(NotFoundError);
    await expect(adapter.read(`no-such-bucket-${Date.now()}/k`, 0, undefined, {})).rejects.toBeInstanceOf(NotFoundError);
    expect((await adapter.read(`${shared.bucket}/err.bin`, 500, 600, {})).length).toBe(0);
    await expect(adapter.read(`${shared.bucket}/err.bin`, 0, undefined, { etag: '"0123456789abcdef0123456789abcdef"' })).rejects.toBeInstanceOf(ConflictError);
    await adapter.close();

    const wrongKey = new S3Adapter(serverOptions({ credentials: { accessKeyId: server().accessKeyId, secretAccessKey: 'not-the-secret' } }));
    await expect(wrongKey.read(`${shared.bucket}/err.bin`, 0, undefined, {})).rejects.toBeInstanceOf(PermissionDeniedError);
    await wrongKey.close();
  });

  it("signs with the clock offset the SDK learned (config.systemClockOffset), and learns it from a skewed answer as the SDK's signer does", async () => {
    const adapter = new S3Adapter(serverOptions());
    await shared.client.send(new PutObjectCommand({ Bucket: shared.bucket, Key: 'clock.bin', Body: patternBytes(10, 4) }));
    const config = adapter.client.config as { systemClockOffset: number };
    config.systemClockOffset = -60 * 60_000; // an hour off: outside the 15 minutes S3 accepts
    const skewed = await adapter.read(`${shared.bucket}/clock.bin`, 0, undefined, {}).catch((e: unknown) => e);
    expect(skewed).toMatchObject({ retryable: true });
    expect(String(skewed)).toMatch(/RequestTimeTooSkewed|skew|time/i);
    // The refusal's Date header corrected the offset (this clock is right, so to about 0), and the retry passes.
    expect(Math.abs(config.systemClockOffset)).toBeLessThan(60_000);
    expect((await adapter.read(`${shared.bucket}/clock.bin`, 0, undefined, {})).length).toBe(10);
    config.systemClockOffset = -60 * 60_000;
    const fs = fromAdapter(adapter, { retry: { attempts: 2, baseDelayMs: 1 } });
    await fs.pipe(`${shared.bucket}/clock-put.bin`, 'written on the second try');
    expect(new TextDecoder().decode(await fs.cat(`${shared.bucket}/clock-put.bin`))).toBe('written on the second try');
    await adapter.close();
  });

  it('an error answer longer than any error document (no length, never ends) is dropped: a mapped error, no unhandled error', async () => {
    // A throttling answer that streams without Content-Length, past the 64 KiB cap, and never ends.
    const httpServer = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.write(`<Error><Code>SlowDown</Code>${' '.repeat(70_000)}`);
    });
    const loopbackServer = await listenOnLoopback(httpServer);
    const adapter = new S3Adapter({ endpoint: loopbackServer.origin, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    try {
      const error = await adapter.read('bkt/key', 0, undefined, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).retryable).toBe(true);
      // The dropped body fails on a later tick; vitest would report it if nothing listened.
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await adapter.close();
      await loopbackServer.close();
    }
  });

  it('a client the caller built keeps the SDK path, so its middleware sees every read', async () => {
    const own = new S3Client({ ...serverOptions(), forcePathStyle: true });
    let seen = 0;
    own.middlewareStack.add((next) => async (args) => {
      seen++;
      return next(args);
    });
    const adapter = new S3Adapter({ client: own });
    await shared.client.send(new PutObjectCommand({ Bucket: shared.bucket, Key: 'own.bin', Body: patternBytes(10, 2) }));
    expect((await adapter.read(`${shared.bucket}/own.bin`, 0, undefined, {})).length).toBe(10);
    expect(seen).toBe(1);
    own.destroy();
  });

  it('leaves S3 Express directory buckets (session auth) to the SDK', async () => {
    const aws = new S3Client({ region: 'us-west-2', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const signed = new SignedRequests(aws);
    // Resolving the target makes no request; undefined / false mean "use the SDK".
    const where = { protocol: 's3', path: 'bucket--usw2-az1--x-s3/k', start: 0 };
    expect(await signed.get('bucket--usw2-az1--x-s3', 'k', undefined, undefined, undefined)).toBeUndefined();
    expect(await signed.getBytes('bucket--usw2-az1--x-s3', 'k', undefined, undefined, undefined, where)).toBeUndefined();
    expect(await signed.put('bucket--usw2-az1--x-s3', 'k', new Uint8Array(1), undefined, undefined, where)).toBe(false);
    await signed.close();
    aws.destroy();
  });

  it('writes small objects with no SDK PutObject, under keys the SDK reads back unchanged, with their SHA-256 checksum', async () => {
    const adapter = new S3Adapter(serverOptions());
    const keys = ['w/plain.bin', "w/odd !'()*+&=;,$@ chars.bin", 'w/ünïcødé/ключ/名前.bin', 'w/a%2F~.bin', 'w/empty.bin'];
    const dataFor = (key: string) => (key.endsWith('empty.bin') ? new Uint8Array(0) : patternBytes(70_000, key.length));
    const { puts } = await sdkCalls(adapter.client, async () => {
      for (const key of keys) await put(adapter, `${shared.bucket}/${key}`, dataFor(key));
    });
    expect(puts).toBe(0);
    for (const key of keys) {
      const got = await shared.client.send(new GetObjectCommand({ Bucket: shared.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      expectSameBytes(await got.Body!.transformToByteArray(), dataFor(key), key);
      // Stored with the object, as the SDK's own checksum would be.
      expect(got.ChecksumSHA256, key).toBe(createHash('sha256').update(dataFor(key)).digest('base64'));
    }
    await adapter.close();
  });

  it("sends no checksum header when the client is configured with requestChecksumCalculation: 'WHEN_REQUIRED'", async () => {
    const adapter = new S3Adapter(serverOptions({ clientConfig: { requestChecksumCalculation: 'WHEN_REQUIRED' } }));
    await put(adapter, `${shared.bucket}/w/no-checksum.bin`, patternBytes(100, 5));
    const got = await shared.client.send(new GetObjectCommand({ Bucket: shared.bucket, Key: 'w/no-checksum.bin', ChecksumMode: 'ENABLED' }));
    expectSameBytes(await got.Body!.transformToByteArray(), patternBytes(100, 5), 'no-checksum');
    expect(got.ChecksumSHA256).toBeUndefined();
    await adapter.close();
  });

  it("create mode refuses an existing key on the server's word (If-None-Match: *)", async () => {
    const fs = makeFs();
    const path = `${shared.bucket}/w/create-once.bin`;
    await fs.pipe(path, 'first', { mode: 'create' });
    await expect(fs.pipe(path, 'second', { mode: 'create' })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect(new TextDecoder().decode(await fs.cat(path))).toBe('first');
    await fs.close();
  });

  it('signs the payload hash: a body changed on the way is refused by the server, retryable, and nothing is stored', async () => {
    const key = 'w/changed-on-the-way.bin';
    // A proxy that flips one byte of every PUT body and forwards the rest untouched. Its answers are
    // chunked (no Content-Length), as S3's error answers often are; the code must still be read.
    const proxy = await loopback(async (req, body) => {
      if (req.method === 'PUT' && body.length > 0) body[body.length - 1]! ^= 0xff;
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== 'connection')) as Record<string, string>;
      // undici keeps the signed Host header (fetch would replace it).
      const answer = await request(`${server().endpoint}${req.url}`, { method: req.method as 'PUT', headers, body: req.method === 'PUT' ? body : undefined });
      return { status: answer.statusCode, headers: { 'content-type': 'application/xml' }, body: await answer.body.text() };
    });
    const adapter = new S3Adapter({ ...serverOptions(), endpoint: proxy.origin });
    try {
      const error = await put(adapter, `${shared.bucket}/${key}`, patternBytes(5000, 9)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).retryable).toBe(true);
      expect(String((error as StorageError).message)).toMatch(/XAmzContentSHA256Mismatch|BadDigest|sha256|digest/i);
      await expect(shared.client.send(new HeadObjectCommand({ Bucket: shared.bucket, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
    } finally {
      await adapter.close();
      await proxy.close();
    }
  });
});
