import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { FaultProxy, type FaultRule } from '../src/fault-proxy.js';
import { s3Operation, azureOperation, gcsOperation } from '../src/operations.js';

/** A tiny origin server that records what reached it. */
interface Origin {
  server: Server;
  url: string;
  seen: Array<{ method: string; url: string; body: number }>;
}

const BODY = Buffer.from('0123456789'.repeat(1000)); // 10 000 bytes

async function startOrigin(): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const server = createServer((req, res) => {
    let body = 0;
    req.on('data', (chunk: Buffer) => (body += chunk.length));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      if (req.url?.startsWith('/redirect')) {
        res.writeHead(308, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/session/1`, 'content-length': '0' });
        return res.end();
      }
      if (req.url?.startsWith('/upload/storage/v1/b/b/o?upload_id=')) {
        // A resumable session: 308 + Range until the final chunk, then the object.
        const final = !String(req.headers['content-range']).endsWith('/*');
        if (final) {
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ name: 'o', size: String(body) }));
        }
        res.writeHead(308, { range: `bytes=0-${body - 1}`, 'content-length': '0' });
        return res.end();
      }
      if (req.url?.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(BODY.subarray(0, 5000));
        return res.end(BODY.subarray(5000));
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BODY.length), 'x-received': String(body) });
      res.end(req.method === 'HEAD' ? undefined : BODY);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

interface RawAnswer {
  status?: number;
  headers?: IncomingMessage['headers'];
  received: number;
  error?: NodeJS.ErrnoException;
}

/** One request on a fresh connection; reports what arrived even when the connection breaks. */
function send(url: string, init: { method?: string; body?: Buffer; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const out: RawAnswer = { received: 0 };
    const req = httpRequest(url, { method: init.method ?? 'GET', agent: false, headers: { ...init.headers, ...(init.body ? { 'content-length': String(init.body.length) } : {}) } });
    const finish = (error?: NodeJS.ErrnoException) => {
      if (error && !out.error) out.error = error;
      resolve(out);
    };
    if (init.timeoutMs) req.setTimeout(init.timeoutMs, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', finish);
    req.on('response', (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      res.on('data', (chunk: Buffer) => (out.received += chunk.length));
      res.on('end', () => finish());
      res.on('error', finish);
      res.on('aborted', () => finish(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    });
    if (init.body) {
      // Send in two pieces so a mid-request reset can land between them.
      req.write(init.body.subarray(0, 100));
      setTimeout(() => req.end(init.body!.subarray(100)), 20);
    } else req.end();
  });
}

describe('FaultProxy', () => {
  let origin: Origin;
  let proxy: FaultProxy;

  beforeAll(async () => {
    origin = await startOrigin();
  });
  afterAll(async () => {
    await new Promise((resolve) => origin.server.close(resolve));
  });
  afterEach(async () => {
    await proxy?.close();
    origin.seen.length = 0;
  });

  const start = async (rules: FaultRule[] = [], extra: { dialect?: 's3' | 'gcs' | 'azure'; seed?: number; stallMs?: number } = {}) => {
    proxy = await FaultProxy.start({ target: origin.url, rules, ...extra });
    return proxy;
  };

  it('refuses a target that is not on the loopback', async () => {
    await expect(FaultProxy.start({ target: 'http://example.com' })).rejects.toThrow(/loopback/);
    await expect(FaultProxy.start({ target: 'https://127.0.0.1:1' })).rejects.toThrow(/loopback/);
  });

  it('passes requests and bodies through untouched and rewrites self-pointing Location headers', async () => {
    await start();
    const put = await send(`${proxy.url}/b/k`, { method: 'PUT', body: BODY });
    expect(put.status).toBe(200);
    expect(put.received).toBe(BODY.length);
    expect(put.headers?.['x-received']).toBe(String(BODY.length));
    const chunked = await send(`${proxy.url}/chunked`);
    expect(chunked.received).toBe(BODY.length);
    const redirect = await send(`${proxy.url}/redirect`, { method: 'PUT', body: BODY });
    expect(redirect.headers?.location).toBe(`${proxy.url}/session/1`);
    expect(proxy.stats).toMatchObject({ requests: 3, forwarded: 3, injected: 0, upstreamErrors: 0 });
  });

  it('answers 500, 503 with Retry-After and S3 SlowDown in the service format without reaching the server', async () => {
    await start(
      [
        { operation: 'GetObject', path: /\/a$/, fault: '500' },
        { operation: 'GetObject', path: /\/b$/, fault: '503-retry-after' },
        { operation: 'PutObject', fault: 'slow-down' },
      ],
      { dialect: 's3' },
    );
    const a = await send(`${proxy.url}/bucket/a`);
    const b = await send(`${proxy.url}/bucket/b`);
    const c = await send(`${proxy.url}/bucket/c`, { method: 'PUT', body: BODY });
    expect([a.status, b.status, c.status]).toEqual([500, 503, 503]);
    expect(b.headers?.['retry-after']).toBe('1');
    expect(a.headers?.['retry-after']).toBeUndefined();
    expect(origin.seen).toEqual([]);
    expect(proxy.stats.faults).toEqual({ '500': 1, '503+retry-after': 1, slowDown: 1 });
    expect(proxy.log.map((f) => f.operation)).toEqual(['GetObject', 'GetObject', 'PutObject']);
  });

  it('resets a request midway: the client sees ECONNRESET and the server never sees the request', async () => {
    await start([{ method: 'PUT', fault: 'reset-request' }, { method: 'GET', fault: 'reset-request' }]);
    const put = await send(`${proxy.url}/x`, { method: 'PUT', body: BODY });
    const get = await send(`${proxy.url}/y`);
    expect(put.status).toBeUndefined();
    expect(put.error?.code).toMatch(/ECONNRESET|EPIPE/);
    expect(get.error?.code).toBe('ECONNRESET');
    expect(origin.seen).toEqual([]);
  });

  it('resets mid-response after the server did the work', async () => {
    await start([{ method: 'PUT', fault: 'reset-response' }]);
    const answer = await send(`${proxy.url}/x`, { method: 'PUT', body: BODY });
    expect(answer.status).toBe(200);
    expect(answer.received).toBeLessThan(BODY.length);
    expect(answer.error?.code).toBe('ECONNRESET');
    expect(origin.seen).toEqual([{ method: 'PUT', url: '/x', body: BODY.length }]);
  });

  it('drops the whole answer of a request the server completed', async () => {
    await start([{ method: 'PUT', fault: 'drop-response' }]);
    const answer = await send(`${proxy.url}/x`, { method: 'PUT', body: BODY });
    expect(answer.status).toBeUndefined();
    expect(answer.error?.code).toBe('ECONNRESET');
    expect(origin.seen).toHaveLength(1);
  });

  it('cuts a body short: the full Content-Length is promised, fewer bytes arrive', async () => {
    await start([{ path: /^\/x/, fault: { kind: 'truncateBody', keep: 0.3 } }, { path: /^\/chunked/, fault: 'truncate-body' }]);
    const fixed = await send(`${proxy.url}/x`);
    expect(fixed.headers?.['content-length']).toBe(String(BODY.length));
    expect(fixed.received).toBe(3000);
    expect(fixed.error).toBeDefined();
    const chunked = await send(`${proxy.url}/chunked`);
    expect(chunked.headers?.['content-length']).toBe(String(BODY.length));
    expect(chunked.received).toBe(5000);
    expect(chunked.error).toBeDefined();
    // fetch notices too: the body promise rejects instead of resolving with short data.
    proxy.setRules([{ fault: 'truncate-body' }]);
    const response = await fetch(`${proxy.url}/x`);
    await expect(response.arrayBuffer()).rejects.toThrow();
  });

  it('stalls past the client timeout without forwarding', async () => {
    await start([{ fault: 'stall' }], { stallMs: 10_000 });
    const began = Date.now();
    const answer = await send(`${proxy.url}/x`, { timeoutMs: 300 });
    expect(answer.error?.code).toBe('CLIENT_TIMEOUT');
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    expect(origin.seen).toEqual([]);
    // A bounded stall ends in a reset.
    proxy.setRules([{ fault: { kind: 'stall', ms: 100 } }]);
    const bounded = await send(`${proxy.url}/x`);
    expect(bounded.error?.code).toBe('ECONNRESET');
  });

  it('answers GCS resumable status queries as GCS documents them, from what the server said', async () => {
    await start([], { dialect: 'gcs' });
    const session = `${proxy.url}/upload/storage/v1/b/b/o?upload_id=s1`;
    const query = { method: 'PUT', headers: { 'content-range': 'bytes */*', 'content-length': '0' } };
    const before = await send(session, query);
    expect(before.status).toBe(308);
    expect(before.headers?.range).toBeUndefined();
    await send(session, { method: 'PUT', body: BODY, headers: { 'content-range': `bytes 0-${BODY.length - 1}/*` } });
    const middle = await send(session, query);
    expect([middle.status, middle.headers?.range]).toEqual([308, `bytes=0-${BODY.length - 1}`]);
    await send(session, { method: 'PUT', body: BODY, headers: { 'content-range': `bytes ${BODY.length}-${2 * BODY.length - 1}/${2 * BODY.length}` } });
    const after = await send(session, query);
    expect(after.status).toBe(200);
    // Status queries never reach the server (fake-gcs-server would finalise the object on one).
    expect(origin.seen.filter((r) => r.body === 0)).toEqual([]);
    expect(origin.seen).toHaveLength(2);
  });

  it('fires every Nth matching request, after a few, at most `times` times', async () => {
    const rule: FaultRule = { name: 'third', method: 'GET', after: 1, every: 3, times: 2, fault: '500' };
    await start([rule]);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await send(`${proxy.url}/x`)).status ?? 0);
    // Request 1 skipped; of the rest, the 3rd and 6th fire; `times` stops the 9th.
    expect(statuses.map((s, i) => (s === 500 ? i + 1 : 0)).filter(Boolean)).toEqual([4, 7]);
    expect(proxy.injectedBy(rule)).toBe(2);
    expect(proxy.injectedBy('third')).toBe(2);
  });

  it('injects at a seeded random rate: same seed, same requests', async () => {
    const run = async (seed: number) => {
      await start([{ rate: 0.1, fault: ['500', '503'] }], { seed });
      const hit: number[] = [];
      for (let i = 0; i < 200; i++) if (((await send(`${proxy.url}/x`, { method: 'HEAD' })).status ?? 0) >= 500) hit.push(i);
      await proxy.close();
      return hit;
    };
    const first = await run(42);
    const again = await run(42);
    const other = await run(7);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first.length).toBeGreaterThan(8);
    expect(first.length).toBeLessThan(36);
  });
});

describe('operation names', () => {
  const facts = (method: string, url: string, headers: Record<string, string> = {}) => {
    const q = url.indexOf('?');
    return { method, path: q === -1 ? url : url.slice(0, q), query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)), headers };
  };

  it('S3', () => {
    expect(s3Operation(facts('PUT', '/b/k?partNumber=1&uploadId=u'))).toBe('UploadPart');
    expect(s3Operation(facts('PUT', '/b/k?partNumber=1&uploadId=u', { 'x-amz-copy-source': 'b/x' }))).toBe('UploadPartCopy');
    expect(s3Operation(facts('PUT', '/b/k'))).toBe('PutObject');
    expect(s3Operation(facts('PUT', '/b/k', { 'x-amz-copy-source': 'b/x' }))).toBe('CopyObject');
    expect(s3Operation(facts('POST', '/b/k?uploads'))).toBe('CreateMultipartUpload');
    expect(s3Operation(facts('POST', '/b/k?uploadId=u'))).toBe('CompleteMultipartUpload');
    expect(s3Operation(facts('DELETE', '/b/k?uploadId=u'))).toBe('AbortMultipartUpload');
    expect(s3Operation(facts('GET', '/b?uploads'))).toBe('ListMultipartUploads');
    expect(s3Operation(facts('GET', '/b?list-type=2&prefix=x'))).toBe('ListObjects');
    expect(s3Operation(facts('POST', '/b?delete'))).toBe('DeleteObjects');
    expect(s3Operation(facts('HEAD', '/b/k'))).toBe('HeadObject');
    expect(s3Operation(facts('GET', '/b/k'))).toBe('GetObject');
  });

  it('Azure', () => {
    expect(azureOperation(facts('PUT', '/acct/c/b?comp=block&blockid=x'))).toBe('StageBlock');
    expect(azureOperation(facts('PUT', '/acct/c/b?comp=blocklist'))).toBe('CommitBlockList');
    expect(azureOperation(facts('PUT', '/acct/c/b', { 'x-ms-blob-type': 'BlockBlob' }))).toBe('PutBlob');
    expect(azureOperation(facts('GET', '/acct/c?restype=container&comp=list'))).toBe('ListBlobs');
    expect(azureOperation(facts('GET', '/acct/c/b'))).toBe('Download');
    expect(azureOperation(facts('HEAD', '/acct/c/b'))).toBe('GetBlobProperties');
    expect(azureOperation(facts('PUT', '/acct/c?restype=container'))).toBe('CreateContainer');
  });

  it('GCS', () => {
    expect(gcsOperation(facts('POST', '/upload/storage/v1/b/b/o?uploadType=multipart'))).toBe('InsertObject');
    expect(gcsOperation(facts('POST', '/upload/storage/v1/b/b/o?uploadType=resumable&name=k'))).toBe('StartResumable');
    expect(gcsOperation(facts('PUT', '/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=s'))).toBe('ResumableChunk');
    expect(gcsOperation(facts('DELETE', '/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=s'))).toBe('CancelResumable');
    expect(gcsOperation(facts('GET', '/storage/v1/b/b/o/k?alt=media'))).toBe('Download');
    expect(gcsOperation(facts('GET', '/storage/v1/b/b/o/k'))).toBe('GetObject');
    expect(gcsOperation(facts('GET', '/storage/v1/b/b/o?prefix=x'))).toBe('ListObjects');
    expect(gcsOperation(facts('POST', '/storage/v1/b/b/o/k/rewriteTo/b/b/o/k2'))).toBe('RewriteObject');
  });
});
