// Reads skip the SDK's middleware: GetObject is signed with the SDK's own SigV4 signer and sent with
// undici. These tests check that the path is taken, that it reads exactly what the SDK would, and
// that a client the caller built keeps the SDK's path (its middleware must run).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ConflictError, NotFoundError, PermissionDeniedError, StorageError } from '@strata/fs-core';
import { expectSameBytes } from '@strata/fs-core/testing';
import { describe, expect, it, vi } from 'vitest';

import { S3Adapter } from '../src/index.js';
import { SignedGet } from '../src/signed-get.js';
import { bucketForThisFile, patternBytes, server, serverOptions } from './helpers.js';

const shared = bucketForThisFile();

/** GetObject calls made through the SDK client while `fn` runs. */
async function sdkGets(adapter: S3Adapter, fn: () => Promise<void>): Promise<number> {
  const send = vi.spyOn(adapter.client, 'send');
  try {
    await fn();
    return send.mock.calls.filter(([command]) => command instanceof GetObjectCommand).length;
  } finally {
    send.mockRestore();
  }
}

describe('reads signed without the SDK middleware', () => {
  it('reads whole objects, ranges and keys with characters that need escaping, with no SDK GetObject', async () => {
    const adapter = new S3Adapter(serverOptions());
    const keys = ['plain.bin', "odd !'()*+&=;,$@ chars.bin", 'ünïcødé/ключ/名前.bin', 'a/b/c%2F~.bin'];
    const data = patternBytes(300_000, 3);
    for (const key of keys) await shared.client.send(new PutObjectCommand({ Bucket: shared.bucket, Key: key, Body: data }));
    const gets = await sdkGets(adapter, async () => {
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

  it("signs with the clock offset the SDK learned (config.systemClockOffset), as the SDK's own requests do", async () => {
    const adapter = new S3Adapter(serverOptions());
    await shared.client.send(new PutObjectCommand({ Bucket: shared.bucket, Key: 'clock.bin', Body: patternBytes(10, 4) }));
    const config = adapter.client.config as { systemClockOffset: number };
    config.systemClockOffset = -60 * 60_000; // an hour off: outside the 15 minutes S3 accepts
    await expect(adapter.read(`${shared.bucket}/clock.bin`, 0, undefined, {})).rejects.toThrow(/RequestTimeTooSkewed|skew|time/i);
    config.systemClockOffset = 0;
    expect((await adapter.read(`${shared.bucket}/clock.bin`, 0, undefined, {})).length).toBe(10);
    await adapter.close();
  });

  it('an error answer with no length (not read, only dropped) is a mapped error and leaves no unhandled error', async () => {
    // A throttling answer that streams without Content-Length and never ends.
    const httpServer = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.write('<Error><Code>SlowDown</Code>');
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as AddressInfo;
    const adapter = new S3Adapter({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    try {
      const error = await adapter.read('bkt/key', 0, undefined, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).retryable).toBe(true);
      // The dropped body fails on a later tick; vitest would report it if nothing listened.
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await adapter.close();
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
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
    const signed = new SignedGet(aws);
    // Resolving the target makes no request; undefined means "use the SDK".
    expect(await signed.send('bucket--usw2-az1--x-s3', 'k', undefined, undefined, undefined)).toBeUndefined();
    await signed.close();
    aws.destroy();
  });
});
