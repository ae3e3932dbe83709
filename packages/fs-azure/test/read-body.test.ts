import { randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FsError } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createFileSystem } from '../src/index.js';
import { azureFs, azurite, createContainer, deleteContainer, uniqueContainer } from './helpers.js';

describe('AzureBlobAdapter.read against Azurite', () => {
  let container: string;
  const data = randomBytes(300_000);
  beforeAll(async () => {
    container = uniqueContainer('readbody');
    await createContainer(container);
    await azureFs().pipe(`${container}/data.bin`, data);
  });
  afterAll(async () => {
    await deleteContainer(container);
  });

  test('whole blobs and ranges come back as one Buffer of the exact bytes', async () => {
    const fs = azureFs();
    const whole = await fs.cat(`${container}/data.bin`);
    expect(whole).toBeInstanceOf(Buffer);
    expect(Buffer.compare(whole, data)).toBe(0);
    const [range, pastEnd] = await fs.catRanges([`${container}/data.bin`, `${container}/data.bin`], [1000, 299_990], [70_000, 400_000]);
    expect(Buffer.compare(range!, data.subarray(1000, 70_000))).toBe(0);
    expect(Buffer.compare(pastEnd!, data.subarray(299_990))).toBe(0);
    await fs.close();
  });

  test('a download cut short is a retryable FsError without retries, and retried to the full bytes with them', async () => {
    const target = new URL(azurite().blobEndpoint);
    let cuts = 0;
    // Proxies to Azurite, but the first `cuts` downloads promise the full body and send half of it.
    const proxy = createServer((req, res) => {
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const length = Number(answer.headers['content-length']);
        if (req.method !== 'GET' || !(length > 1) || cuts === 0) {
          answer.pipe(res);
          return;
        }
        cuts--;
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          const piece = chunk.subarray(0, Math.max(0, length / 2 - sent));
          if (piece.length > 0) res.write(piece);
          sent += piece.length;
          if (sent >= length / 2) {
            answer.destroy();
            res.socket?.destroy();
          }
        });
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    const { accountName, accountKey } = azurite();
    const viaProxy = (attempts: number) =>
      createFileSystem({ accountName, accountKey, blobEndpoint: `http://127.0.0.1:${port}/${accountName}`, retry: { attempts, baseDelayMs: 1, maxDelayMs: 5 } });
    try {
      const once = viaProxy(1);
      cuts = 1;
      const error = await once.cat(`${container}/data.bin`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FsError);
      expect((error as FsError).retryable).toBe(true);
      await once.close();

      const retried = viaProxy(3);
      cuts = 2;
      expect(Buffer.compare(await retried.cat(`${container}/data.bin`), data)).toBe(0);
      expect(cuts).toBe(0);
      await retried.close();
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
