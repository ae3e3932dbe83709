// Every request goes through the filesystem's own HTTP client: close() releases all its sockets,
// and whole reads copy into one buffer as the bytes arrive.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

import { CRC32C, type Storage } from '@google-cloud/storage';
import { StorageError } from '@strata/fs-core';
import { expectFsError, expectSameBytes, listenOnLoopback } from '@strata/fs-core/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { GcsAdapter, createFileSystem } from '../src/index.js';
import { KiB, countingBytes, createBucket, destroyBucket, rawStorage, server, startRecordingProxy, uniqueName } from './helpers.js';

let storage: Storage;
let bucket: string;
const madeBuckets: string[] = [];

beforeAll(async () => {
  storage = rawStorage();
  bucket = await createBucket(storage, 'http-client');
});
afterAll(async () => {
  for (const name of [bucket, ...madeBuckets]) if (name) await destroyBucket(storage, name);
});

describe('connection pool', () => {
  it('close() leaves no socket open after head, list, delete, copy, bucket creation, reads and uploads', async () => {
    const proxy = await startRecordingProxy(server().endpoint);
    const fs = createFileSystem({ apiEndpoint: proxy.endpoint, projectId: server().projectId });
    const dir = `${bucket}/sockets`;
    // Concurrent calls, so the pool holds several connections.
    await Promise.all(Array.from({ length: 6 }, (_, i) => fs.pipe(`${dir}/f${i}.txt`, `file ${i}`)));
    await Promise.all([fs.info(`${dir}/f0.txt`), fs.info(bucket), fs.ls(dir), fs.find(dir), fs.exists(`${dir}/missing`)]);
    await Promise.all([fs.cp(`${dir}/f0.txt`, `${dir}/copy.txt`), fs.mv(`${dir}/f1.txt`, `${dir}/moved.txt`), fs.rm(`${dir}/f2.txt`)]);
    const made = uniqueName('http-client-made');
    madeBuckets.push(made);
    await fs.mkdir(made);
    expect((await fs.info(made)).type).toBe('directory');
    expect(new TextDecoder().decode(await fs.cat(`${dir}/copy.txt`))).toBe('file 0');
    expect((await fs.ls(dir)).map((e) => e.name)).toEqual(
      ['copy.txt', 'f0.txt', 'f3.txt', 'f4.txt', 'f5.txt', 'moved.txt'].map((n) => `${dir}/${n}`),
    );
    const methods = new Set(proxy.requests.map((r) => `${r.split(' ')[0]} ${r.includes('/rewriteTo/') ? 'rewrite' : r.includes('/upload/') ? 'upload' : r.includes('alt=media') ? 'media' : 'json'}`));
    expect([...methods].sort()).toEqual(['DELETE json', 'GET json', 'GET media', 'POST json', 'POST rewrite', 'POST upload']);

    expect(proxy.openConnections()).toBeGreaterThan(0); // kept alive for reuse until close()
    await fs.close();
    // Our sockets are destroyed at once; the short wait is only for the FINs to arrive.
    for (let waited = 0; proxy.openConnections() > 0 && waited < 1000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(proxy.openConnections()).toBe(0);
    await proxy.close();
  });
});

/**
 * A fetch that serves object `bkt/k` from `pieces`, one per pull, and zeroes each piece once the
 * next one is asked for: a reader that kept the pieces to join them at the end returns zeros.
 */
function piecewiseFetch(pieces: Uint8Array[], headers: Record<string, string>, status = 200): typeof fetch {
  return async () => {
    let next = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          pieces[next - 1]?.fill(0);
          if (next === pieces.length) controller.close();
          else controller.enqueue(pieces[next++]!);
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status, headers: { 'Content-Type': 'application/octet-stream', ...headers } });
  };
}

function split(data: Uint8Array, pieceSize: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += pieceSize) pieces.push(data.slice(offset, offset + pieceSize));
  return pieces;
}

describe('read() into one buffer', () => {
  const data = countingBytes(256 * KiB);
  const adapterWith = (fetchImpl: typeof fetch) => new GcsAdapter({ apiEndpoint: 'http://127.0.0.1:9', fetch: fetchImpl });

  it('copies each chunk as it arrives when Content-Length gives the length (whole object)', async () => {
    const adapter = adapterWith(piecewiseFetch(split(data, 16 * KiB), { 'Content-Length': String(data.length) }));
    const out = await adapter.read('bkt/k', 0, undefined, {});
    expectSameBytes(out, data, 'whole read');
    expect(out.buffer.byteLength).toBe(data.length); // exactly one buffer of the object's size
  });

  it('copies each chunk as it arrives for a range (206 + Content-Length), and for a server that ignores Range', async () => {
    const range = data.subarray(1000, 101_000);
    const ranged = adapterWith(
      piecewiseFetch(split(range, 7 * KiB), { 'Content-Length': String(range.length), 'Content-Range': `bytes 1000-100999/${data.length}` }, 206),
    );
    expectSameBytes(await ranged.read('bkt/k', 1000, 101_000, {}), range, 'ranged read');

    const ignoring = adapterWith(piecewiseFetch(split(data, 16 * KiB), { 'Content-Length': String(data.length) }));
    expectSameBytes(await ignoring.read('bkt/k', 1000, 101_000, {}), range, 'range cut from a 200');
  });

  it("checks a whole object against the CRC32C in x-goog-hash: a mismatch is a retryable StorageError, in read() and readStream()", async () => {
    const crcOf = (bytes: Uint8Array) => {
      const checksum = new CRC32C();
      checksum.update(Buffer.from(bytes));
      return checksum.toString();
    };
    const crc = crcOf(data);
    const served = (hash: string) => adapterWith(piecewiseFetch(split(data, 16 * KiB), { 'Content-Length': String(data.length), 'x-goog-hash': `crc32c=${hash},md5=x` }));
    expectSameBytes(await served(crc).read('bkt/k', 0, undefined, {}), data, 'matching CRC32C');
    const wrong = crcOf(data.subarray(1));
    const mismatch = await expectFsError(served(wrong).read('bkt/k', 0, undefined, {}), StorageError);
    expect(mismatch.retryable).toBe(true);
    expect(mismatch.message).toContain('CRC32C');
    const drain = async () => {
      for await (const _ of served(wrong).readStream('bkt/k', 0, undefined, {})) void _;
    };
    expect((await expectFsError(drain(), StorageError)).message).toContain('CRC32C');
  });

  it('without a usable length (no Content-Length) it still returns the exact bytes', async () => {
    const pieces = split(data, 16 * KiB).map((p) => p.slice());
    const noLength: typeof fetch = async () => new Response(new Blob(pieces).stream(), { status: 200 });
    expectSameBytes(await adapterWith(noLength).read('bkt/k', 0, undefined, {}), data, 'unknown length');
  });

  it('a body longer or shorter than its Content-Length is a retryable StorageError', async () => {
    const long = adapterWith(piecewiseFetch(split(data, 16 * KiB), { 'Content-Length': String(data.length - 10) }));
    const tooLong = await expectFsError(long.read('bkt/k', 0, undefined, {}), StorageError);
    expect(tooLong.retryable).toBe(true);
    const short = adapterWith(piecewiseFetch(split(data.subarray(0, 1000), 100), { 'Content-Length': String(data.length) }));
    const tooShort = await expectFsError(short.read('bkt/k', 0, undefined, {}), StorageError);
    expect(tooShort.retryable).toBe(true);
  });
});

describe('the default client (undici, no fetch injected)', () => {
  const data = countingBytes(64 * KiB);

  /** An adapter whose endpoint is a loopback server answering every request with `handler`. */
  async function adapterServedBy(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ adapter: GcsAdapter; close(): Promise<void> }> {
    const loopbackServer = await listenOnLoopback(createServer(handler));
    const adapter = new GcsAdapter({ apiEndpoint: loopbackServer.origin });
    return {
      adapter,
      close: async () => {
        await adapter.close();
        await loopbackServer.close();
      },
    };
  }

  /** Writes `bytes` in small pieces on separate turns, so the reader sees many chunks. */
  async function writeInPieces(res: ServerResponse, bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length; offset += 4 * KiB) {
      res.write(bytes.subarray(offset, offset + 4 * KiB));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('reads a range into one buffer of its length, asking for no compression', async () => {
    const range = data.subarray(100, 60_100);
    let acceptEncoding: string | undefined = 'not asked';
    const served = await adapterServedBy((req, res) => {
      acceptEncoding = req.headers['accept-encoding'];
      res.writeHead(206, { 'Content-Length': String(range.length), 'Content-Range': `bytes 100-60099/${data.length}` });
      void writeInPieces(res, range).then(() => res.end());
    });
    try {
      const out = await served.adapter.read('bkt/k', 100, 60_100, {});
      expectSameBytes(out, range, 'ranged read');
      expect(out.buffer.byteLength).toBe(range.length);
      // Without Accept-Encoding GCS serves objects stored gzip-encoded decompressed.
      expect(acceptEncoding).toBeUndefined();
    } finally {
      await served.close();
    }
  });

  it('a range whose connection drops before Content-Length is a retryable StorageError', async () => {
    const served = await adapterServedBy((_req, res) => {
      res.writeHead(206, { 'Content-Length': '60000', 'Content-Range': `bytes 0-59999/${data.length}` });
      void writeInPieces(res, data.subarray(0, 20_000)).then(() => res.socket?.destroy());
    });
    try {
      const error = await expectFsError(served.adapter.read('bkt/k', 0, 60_000, {}), StorageError);
      expect(error.retryable).toBe(true);
      expect(error.message).toContain('gs://bkt/k');
    } finally {
      await served.close();
    }
  });

  const crc32cOf = (bytes: Uint8Array) => {
    const checksum = new CRC32C();
    checksum.update(Buffer.from(bytes));
    return checksum.toString();
  };

  it('reads an object stored gzip-encoded, which GCS serves decompressed with the hash of the stored bytes, without a CRC32C failure', async () => {
    const compressed = gzipSync(data);
    const served = await adapterServedBy((_req, res) => {
      res.writeHead(200, {
        'Content-Length': String(data.length),
        'x-goog-stored-content-encoding': 'gzip',
        'x-goog-stored-content-length': String(compressed.length),
        'x-goog-hash': `crc32c=${crc32cOf(compressed)},md5=x`,
      });
      res.end(data);
    });
    try {
      expectSameBytes(await served.adapter.read('bkt/k', 0, undefined, {}), data, 'read() of a decompressed object');
      const chunks: Uint8Array[] = [];
      for await (const chunk of served.adapter.readStream('bkt/k', 0, undefined, {})) chunks.push(chunk);
      expectSameBytes(Buffer.concat(chunks), data, 'readStream() of a decompressed object');
    } finally {
      await served.close();
    }
  });

  it('does not hold a body it decoded itself against the hash of the compressed bytes', async () => {
    const compressed = gzipSync(data);
    const served = await adapterServedBy((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': String(compressed.length), 'x-goog-hash': `crc32c=${crc32cOf(compressed)},md5=x` });
      res.end(compressed);
    });
    try {
      expectSameBytes(await served.adapter.read('bkt/k', 0, undefined, {}), data, 'locally decoded answer');
    } finally {
      await served.close();
    }
  });

  it('decodes a body the server compressed anyway, as fetch would', async () => {
    const compressed = gzipSync(data);
    const served = await adapterServedBy((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': String(compressed.length) });
      res.end(compressed);
    });
    try {
      expectSameBytes(await served.adapter.read('bkt/k', 0, undefined, {}), data, 'gzip-encoded answer');
    } finally {
      await served.close();
    }
  });
});

describe('proxy settings', () => {
  const proxyVariables = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'];
  let savedEnv: Record<string, string | undefined>;
  beforeEach(() => {
    savedEnv = Object.fromEntries(proxyVariables.map((name) => [name, process.env[name]]));
    for (const name of proxyVariables) delete process.env[name];
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(savedEnv)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  /** A loopback HTTP proxy that writes down the tunnels it opens (undici's ProxyAgent sends every request through CONNECT). */
  async function startForwardProxy() {
    const forwarded: string[] = [];
    const tunnels = new Set<Socket>();
    const proxy = createServer((_req, res) => res.writeHead(501).end());
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      forwarded.push(`CONNECT ${req.url}`);
      const [host, port] = req.url!.split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client).pipe(upstream);
      });
      for (const socket of [client, upstream]) {
        tunnels.add(socket);
        socket.on('error', () => undefined).on('close', () => tunnels.delete(socket));
      }
    });
    const listening = await listenOnLoopback(proxy);
    return {
      origin: listening.origin,
      forwarded,
      close: async () => {
        for (const socket of tunnels) socket.destroy();
        await listening.close();
      },
    };
  }

  it('sends requests through HTTP_PROXY, and straight to hosts listed in NO_PROXY', async () => {
    const objectServer = await listenOnLoopback(
      createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ name: 'k', bucket: 'bkt', size: '3', generation: '1' }));
      }),
    );
    const proxy = await startForwardProxy();
    try {
      process.env['HTTP_PROXY'] = proxy.origin;
      const proxied = new GcsAdapter({ apiEndpoint: objectServer.origin });
      expect((await proxied.head('bkt/k', {})).size).toBe(3);
      await proxied.close();
      expect(proxy.forwarded).toEqual([`CONNECT 127.0.0.1:${objectServer.port}`]);

      process.env['NO_PROXY'] = '127.0.0.1';
      const direct = new GcsAdapter({ apiEndpoint: objectServer.origin });
      expect((await direct.head('bkt/k', {})).size).toBe(3);
      await direct.close();
      expect(proxy.forwarded, 'NO_PROXY host not proxied').toHaveLength(1);
    } finally {
      await proxy.close();
      await objectServer.close();
    }
  });
});
