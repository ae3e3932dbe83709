// Answers fake-gcs-server never gives (it has no auth, never throttles, never fails a chunk) come
// from small loopback servers here that answer like real GCS's documented JSON API.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { inspect } from 'node:util';

import { Storage } from '@google-cloud/storage';

import {
  AbortError,
  AlreadyExistsError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  retryableNetworkCodes,
  type FileSystem,
} from '@strata/fs-core';
import { expectFsError, expectSameBytes } from '@strata/fs-core/testing';
import { afterEach, describe, expect, it } from 'vitest';

import { toFsError } from '../src/errors.js';
import { createFileSystem, type GcsOptions } from '../src/index.js';
import { KiB, countingBytes } from './helpers.js';

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

const servers: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startServer(handler: Handler): Promise<{ endpoint: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      handler(req, Buffer.concat(chunks), res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}

function jsonError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { code: status, message, errors: [{ message, reason: 'x' }] } }));
}

function fsAt(endpoint: string, options: GcsOptions = {}): FileSystem {
  return createFileSystem({ apiEndpoint: endpoint, retry: { attempts: 1 }, ...options });
}

describe('error mapping (loopback fault server)', () => {
  it('401 is PermissionDeniedError, and exists() throws it instead of answering false', async () => {
    const { endpoint } = await startServer((_req, _body, res) => jsonError(res, 401, 'Invalid Credentials'));
    const fs = fsAt(endpoint);
    const error = await expectFsError(fs.info('bkt/a/b.txt'), PermissionDeniedError);
    expect(error.message).toContain('gs://bkt/a/b.txt');
    expect(error.retryable).toBe(false);
    await expectFsError(fs.exists('bkt/a/b.txt'), PermissionDeniedError);
    await expectFsError(fs.exists('bkt'), PermissionDeniedError);
  });

  it('403 is PermissionDeniedError for metadata, listings, reads and uploads alike', async () => {
    const { endpoint } = await startServer((_req, _body, res) => jsonError(res, 403, 'caller does not have storage.objects.get access'));
    const fs = fsAt(endpoint);
    await expectFsError(fs.info('bkt'), PermissionDeniedError);
    await expectFsError(fs.ls('bkt/dir'), PermissionDeniedError);
    await expectFsError(fs.cat('bkt/file'), PermissionDeniedError);
    await expectFsError(fs.pipe('bkt/file', 'x'), PermissionDeniedError);
    await expectFsError(fs.pipe('bkt/big', countingBytes(600 * KiB)), PermissionDeniedError);
  });

  it('404 "bucket does not exist" on an object is NotFoundError naming the bucket', async () => {
    const { endpoint } = await startServer((_req, _body, res) => jsonError(res, 404, 'The specified bucket does not exist.'));
    const fs = fsAt(endpoint);
    const error = await expectFsError(fs.cat('missing-bkt/some/key'), NotFoundError);
    expect(error.message).toContain('Bucket not found: gs://missing-bkt');
  });

  it('429 and 503 are retryable StorageErrors; fs-core retries them, honouring Retry-After', async () => {
    let calls = 0;
    const { endpoint, requests } = await startServer((_req, _body, res) => {
      calls += 1;
      if (calls === 1) return jsonError(res, 429, 'rate limited', { 'Retry-After': '0' });
      if (calls === 2) return jsonError(res, 503, 'backend unavailable');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name: 'k', bucket: 'bkt', size: '3', generation: '7', updated: new Date().toISOString() }));
    });
    const fs = fsAt(endpoint, { retry: { attempts: 3, baseDelayMs: 1 } });
    const info = await fs.info('bkt/k');
    expect(info).toMatchObject({ type: 'file', size: 3, etag: '7' });
    expect(requests).toHaveLength(3); // the SDK's own retries are off: no multiplication

    calls = 0;
    const once = fsAt(endpoint);
    const error = await expectFsError(once.info('bkt/k'), StorageError);
    expect(error.retryable).toBe(true);
    expect((error as StorageError & { retryAfterMs?: number }).retryAfterMs).toBe(0);
  });

  it('a refused connection is a retryable StorageError', async () => {
    const { endpoint } = await startServer((_req, _body, res) => res.end());
    await Promise.all(servers.splice(0).map((s) => s.close()));
    const fs = fsAt(endpoint);
    const error = await expectFsError(fs.info('bkt/k'), StorageError);
    expect(error.retryable).toBe(true);
    const upload = await expectFsError(fs.pipe('bkt/k', 'x'), StorageError);
    expect(upload.retryable).toBe(true);
  });

  it("every one of fs-core's retryable network codes, and ENOTFOUND, is retryable", () => {
    for (const code of [...retryableNetworkCodes, 'ENOTFOUND']) {
      const mapped = toFsError(Object.assign(new Error(`connect ${code}`), { code }), { protocol: 'gs', path: 'bkt/k' });
      expect(mapped.retryable, code).toBe(true);
    }
  });

  it('messages carry no session URIs, tokens or keys from the server answer', async () => {
    const { endpoint } = await startServer((_req, _body, res) =>
      jsonError(res, 403, 'denied for https://x/upload?upload_id=SECRET-SESSION&X-Goog-Signature=SECRET-SIG with Bearer ya29.SECRET-TOKEN'),
    );
    const fs = fsAt(endpoint);
    const error = await expectFsError(fs.pipe('bkt/k', countingBytes(600 * KiB)), PermissionDeniedError);
    expect(error.message).not.toMatch(/SECRET/);
    expect(JSON.stringify(error.toJSON())).not.toMatch(/SECRET/);
  });
});

describe('credentials that cannot be obtained (token endpoint failures)', () => {
  /** A GaxiosError as google-auth-library throws it: the status is the token/metadata server's. */
  function tokenEndpointError(status: number | undefined, message: string, code?: string): Error {
    return Object.assign(new Error(message), {
      name: 'GaxiosError',
      code,
      status,
      response: status === undefined ? undefined : { status, data: { error: message } },
      config: { url: 'https://oauth2.googleapis.com/token', headers: { Authorization: 'Bearer ya29.SECRET-TOKEN' }, body: 'assertion=SECRET-ASSERTION' },
    });
  }

  /** A filesystem that authenticates against a loopback endpoint, whose auth client fails with `error`. */
  async function fsWithFailingAuth(error: Error, options: GcsOptions = {}) {
    const { endpoint, requests } = await startServer((_req, _body, res) => jsonError(res, 500, 'no request should get here'));
    const storage = new Storage({ apiEndpoint: endpoint, projectId: 'p', useAuthWithCustomEndpoint: true, retryOptions: { autoRetry: false } });
    let tokenRequests = 0;
    storage.authClient.getRequestHeaders = async () => {
      tokenRequests += 1;
      throw error;
    };
    const fs = createFileSystem({ storage, retry: { attempts: 1 }, ...options });
    return { fs, requests, tokenRequests: () => tokenRequests };
  }

  it.each([
    [404, 'Could not refresh access token: A Not Found error was returned while attempting to retrieve an access token for the Compute Engine built-in service account.'],
    [400, 'invalid_grant: Token has been expired or revoked. {"refresh_token":"1//SECRET-REFRESH"}'],
  ])('a token endpoint answering %i is a non-retryable PermissionDeniedError, never "not found", and exists() throws it', async (status, message) => {
    const { fs, requests } = await fsWithFailingAuth(tokenEndpointError(status, message));
    await expectFsError(fs.exists('bkt/k'), PermissionDeniedError);
    await expectFsError(fs.exists('bkt'), PermissionDeniedError);
    await expectFsError(fs.cat('bkt/k'), PermissionDeniedError);
    await expectFsError(fs.pipe('bkt/k', 'x'), PermissionDeniedError);
    const error = await expectFsError(fs.info('bkt/k'), PermissionDeniedError);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('Could not obtain Google credentials to access gs://bkt/k');
    expect(error.message).toContain(`token endpoint answered HTTP ${status}`);
    expect(inspect(error, { depth: 20 })).not.toContain('SECRET');
    expect(requests, 'nothing is sent to Cloud Storage without credentials').toEqual([]);
  });

  it('a token endpoint that is down (5xx, connection refused, timed out) is a retryable PermissionDeniedError, and fs-core retries it', async () => {
    const down = [
      tokenEndpointError(503, 'Service Unavailable'),
      tokenEndpointError(undefined, 'connect ECONNREFUSED 169.254.169.254:80', 'ECONNREFUSED'),
      tokenEndpointError(undefined, 'network timeout at: https://oauth2.googleapis.com/token'),
    ];
    for (const error of down) {
      const { fs, tokenRequests } = await fsWithFailingAuth(error, { retry: { attempts: 3, baseDelayMs: 1 } });
      const mapped = await expectFsError(fs.info('bkt/k'), PermissionDeniedError);
      expect(mapped.retryable).toBe(true);
      expect(tokenRequests()).toBe(3);
    }
  });

  it('mkdir of a bucket when no project can be found is PermissionDeniedError, never "bucket not found"', async () => {
    const { endpoint, requests } = await startServer((_req, _body, res) => jsonError(res, 500, 'no request should get here'));
    const storage = new Storage({ apiEndpoint: endpoint, useAuthWithCustomEndpoint: true, retryOptions: { autoRetry: false } });
    storage.authClient.getProjectId = () => Promise.reject(tokenEndpointError(404, 'Unable to detect a Project Id in the current environment.'));
    const error = await expectFsError(createFileSystem({ storage, retry: { attempts: 1 } }).mkdir('newbucket'), PermissionDeniedError);
    expect(error.message).toContain('Could not obtain Google credentials to access gs://newbucket');
    expect(error.message).toContain('Unable to detect a Project Id');
    expect(inspect(error, { depth: 20 })).not.toContain('SECRET');
    expect(requests).toEqual([]);
  });
});

describe('mkdir of a bucket whose name is taken (409)', () => {
  /** Answers 409 to bucket creation and `getStatus` to buckets.get. */
  async function bucketServer(getStatus: number) {
    return startServer((req, _body, res) => {
      if (req.method === 'POST') return jsonError(res, 409, 'The requested bucket name is not available.');
      if (getStatus !== 200) return jsonError(res, getStatus, 'no access');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ name: 'taken' }));
    });
  }

  it.each([403, 404])('is AlreadyExistsError when the bucket is not visible to us (buckets.get answers %i)', async (getStatus) => {
    const { endpoint, requests } = await bucketServer(getStatus);
    const error = await expectFsError(fsAt(endpoint, { projectId: 'p' }).mkdir('taken'), AlreadyExistsError);
    expect(error.message).toContain('gs://taken');
    expect(requests).toEqual(['POST /storage/v1/b?project=p', 'GET /storage/v1/b/taken']);
  });

  it('succeeds when the bucket is ours to see (mkdir -p semantics)', async () => {
    const { endpoint } = await bucketServer(200);
    await fsAt(endpoint, { projectId: 'p' }).mkdir('taken');
  });
});

/**
 * A resumable-upload endpoint that follows the documented protocol (offsets honoured, 308 + Range,
 * status queries) and can drop a chunk half-way, which fake-gcs-server cannot do.
 */
async function startResumableServer(faults: { failChunk?: number; keepBytes?: number; precondition?: 'exists' }) {
  let content = Buffer.alloc(0);
  let chunkPuts = 0;
  let finalized: Record<string, string> | undefined;
  const server = await startServer((req, body, res) => {
    const url = new URL(req.url!, 'http://x');
    if (req.method === 'POST' && url.searchParams.get('uploadType') === 'resumable') {
      res.writeHead(200, { Location: `http://${req.headers.host}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=abc` });
      return res.end();
    }
    if (req.method === 'PUT' && url.searchParams.get('upload_id') === 'abc') {
      if (finalized) return res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(finalized));
      const range = String(req.headers['content-range']);
      const full = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
      const sizeOnly = /^bytes \*\/(\d+|\*)$/.exec(range);
      let total: number | undefined;
      if (full) {
        chunkPuts += 1;
        const start = Number(full[1]);
        let incoming = body;
        if (chunkPuts === faults.failChunk) {
          // Keep part of the chunk, then fail as if the connection broke.
          content = Buffer.concat([content.subarray(0, start), incoming.subarray(0, faults.keepBytes ?? 0)]);
          return jsonError(res, 503, 'backend error');
        }
        if (start < content.length) incoming = incoming.subarray(content.length - start); // already have some
        else if (start > content.length) return jsonError(res, 400, 'gap in upload');
        content = Buffer.concat([content, incoming]);
        total = full[3] === '*' ? undefined : Number(full[3]);
      } else if (sizeOnly) {
        total = sizeOnly[1] === '*' ? undefined : Number(sizeOnly[1]);
      } else {
        return jsonError(res, 400, 'bad range');
      }
      if (total !== undefined && content.length === total) {
        if (faults.precondition === 'exists') return jsonError(res, 412, 'At least one of the pre-conditions you specified did not hold.');
        finalized = {
          name: 'k',
          bucket: 'bkt',
          size: String(content.length),
          generation: '1',
          md5Hash: createHash('md5').update(content).digest('base64'),
        };
        return res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(finalized));
      }
      res.writeHead(308, content.length > 0 ? { Range: `bytes=0-${content.length - 1}` } : {});
      return res.end();
    }
    if (req.method === 'DELETE') return res.writeHead(499).end();
    return jsonError(res, 404, 'Not Found');
  });
  return { ...server, content: () => content };
}

describe('resumable recovery (documented-protocol test server)', () => {
  it('a chunk that fails half-way is resumed from the offset the server reports, and the object is whole', async () => {
    const server = await startResumableServer({ failChunk: 2, keepBytes: 100_000 });
    const fs = fsAt(server.endpoint, { chunkSize: 256 * KiB, retry: { attempts: 3, baseDelayMs: 1 } });
    const data = countingBytes(700 * KiB);
    await fs.pipe('bkt/k', data);
    expectSameBytes(new Uint8Array(server.content()), data);
    const puts = server.requests.filter((r) => r.startsWith('PUT'));
    // chunk 1, chunk 2 (fails), status query, rest of chunk 2, final chunk
    expect(puts).toHaveLength(5);
  });

  it('412 at the final chunk of a create-only upload is AlreadyExistsError', async () => {
    const server = await startResumableServer({ precondition: 'exists' });
    const fs = fsAt(server.endpoint, { chunkSize: 256 * KiB });
    const handle = await fs.open('bkt/k', 'xb');
    await handle.write(countingBytes(300 * KiB));
    await expectFsError(handle.commit(), AlreadyExistsError);
    expect(server.requests[0]).toContain('ifGenerationMatch=0');
  });
});

describe('data path faults (loopback server)', () => {
  const objectJson = (size: number) => JSON.stringify({ name: 'k', bucket: 'bkt', size: String(size), generation: '7', updated: new Date().toISOString() });

  /** Serves object `k` of `data`; `cutFirst` downloads send half the body and close the connection. */
  async function objectServer(data: Uint8Array, cutFirst: number) {
    let cuts = 0;
    const mediaSockets = new Set<import('node:net').Socket>();
    const started = await startServer((req, _body, res) => {
      if (!req.url?.includes('alt=media')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(objectJson(data.length));
        return;
      }
      mediaSockets.add(req.socket);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) });
      if (cuts < cutFirst) {
        cuts += 1;
        res.write(data.subarray(0, data.length / 2), () => req.socket.destroy());
        return;
      }
      res.end(data);
    });
    return { ...started, mediaSockets };
  }

  it('a download body cut short is a retryable StorageError (never short data, never a hang), and retries get the full bytes', async () => {
    const data = countingBytes(64 * KiB);
    const { endpoint } = await objectServer(data, 1);
    const once = fsAt(endpoint);
    const error = await expectFsError(once.cat('bkt/k'), StorageError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('gs://bkt/k');

    const { endpoint: again } = await objectServer(data, 2);
    const retrying = fsAt(again, { retry: { attempts: 4, baseDelayMs: 1 } });
    expectSameBytes(await retrying.cat('bkt/k'), data, 'cat after cut-short bodies');
  });

  it('a resumable-session answer cut mid-body is a retryable error, not "TypeError: terminated"', async () => {
    const { endpoint } = await startServer((req, _body, res) => {
      if (req.method === 'POST') {
        res.writeHead(200, { Location: `http://${req.headers.host}/session/1`, 'Content-Length': '0' });
        res.end();
        return;
      }
      // The final chunk's answer (the object resource) is cut after a few bytes.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '500' });
      res.write('{"name":', () => req.socket.destroy());
    });
    const fs = fsAt(endpoint, { chunkSize: 256 * KiB, resumableThreshold: 256 * KiB });
    const error = await expectFsError(fs.pipe('bkt/k', countingBytes(300 * KiB)), StorageError);
    expect(error.retryable).toBe(true);
    expect(error.message).not.toMatch(/TypeError/);
  });

  it('the OAuth bearer token is not reachable from errors (SDK and fetch paths)', async () => {
    const { OAuth2Client } = await import('google-auth-library');
    const { Storage } = await import('@google-cloud/storage');
    const { inspect } = await import('node:util');
    const token = 'ya29.strata-test-SECRET-TOKEN-value';
    const { endpoint } = await startServer((_req, _body, res) => jsonError(res, 503, 'backend unavailable'));
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: token, expiry_date: Date.now() + 3600_000, token_type: 'Bearer' });
    const storage = new Storage({ apiEndpoint: endpoint, authClient, useAuthWithCustomEndpoint: true, retryOptions: { autoRetry: false } });
    const fs = createFileSystem({ storage, retry: { attempts: 1 } });
    for (const attempt of [fs.info('bkt/k'), fs.ls('bkt/d'), fs.pipe('bkt/k', 'x'), fs.pipe('bkt/big', countingBytes(600 * KiB))]) {
      const error = await expectFsError(attempt, StorageError);
      expect(inspect(error, { depth: 20 })).not.toContain('SECRET');
      let cause: unknown = error;
      for (let depth = 0; cause && depth < 10; depth++, cause = (cause as { cause?: unknown }).cause) {
        expect((cause as { response?: unknown }).response).toBeUndefined();
        expect((cause as { config?: unknown }).config).toBeUndefined();
      }
    }
    await fs.close();
  });

  it("the caller's AbortSignal.timeout() cancelling a download or upload is AbortError (DOMException codes are no HTTP status)", async () => {
    const { endpoint } = await startServer((req, _body, res) => {
      if (req.method === 'GET' && !req.url?.includes('alt=media')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(objectJson(10));
      }
      // Downloads and uploads are never answered.
    });
    const fs = fsAt(endpoint);
    const read = await expectFsError(fs.cat('bkt/k', { signal: AbortSignal.timeout(200) }), AbortError);
    expect(read.message).not.toMatch(/HTTP 23/);
    await expectFsError(fs.pipe('bkt/k', 'x', { signal: AbortSignal.timeout(200) }), AbortError);
    await fs.close();
  });

  it('close() releases the sockets of the download/upload connection pool', async () => {
    const data = countingBytes(16 * KiB);
    const { endpoint, mediaSockets } = await objectServer(data, 0);
    const fs = fsAt(endpoint);
    expectSameBytes(await fs.cat('bkt/k'), data, 'cat');
    expect(mediaSockets.size).toBeGreaterThan(0);
    const open = () => [...mediaSockets].filter((s) => !s.destroyed && !s.closed).length;
    expect(open()).toBeGreaterThan(0); // kept alive for reuse until close()
    await fs.close();
    for (let waited = 0; open() > 0 && waited < 2000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(open()).toBe(0);
  });
});
