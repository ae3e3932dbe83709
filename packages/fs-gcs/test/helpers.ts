import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Storage } from '@google-cloud/storage';
import { splitBucketPath, type FileSystem } from '@strata/fs-core';
import type {} from '@strata/test-servers/vitest-setup';
import { inject } from 'vitest';

import { createFileSystem, type GcsOptions } from '../src/index.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Connection details of the fake-gcs-server the global setup started. */
export function server(): { endpoint: string; projectId: string } {
  const info = inject('gcs');
  if (!info) throw new Error('fake-gcs-server was not started: run with STRATA_TEST_SERVERS=gcs');
  return info;
}

export function gcsFs(options: GcsOptions = {}, protocol = 'gs'): FileSystem {
  const { endpoint, projectId } = server();
  return createFileSystem({ apiEndpoint: endpoint, projectId, ...options }, protocol);
}

/** A plain SDK client on the emulator, to check results independently of the adapter. */
export function rawStorage(): Storage {
  const { endpoint, projectId } = server();
  return new Storage({ apiEndpoint: endpoint, projectId, retryOptions: { autoRetry: false } });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A fresh bucket per test file, so runs never see each other's objects. */
export async function createBucket(storage: Storage, prefix = 'strata'): Promise<string> {
  const name = uniqueName(prefix);
  await storage.createBucket(name);
  return name;
}

export async function destroyBucket(storage: Storage, name: string): Promise<void> {
  const bucket = storage.bucket(name);
  await bucket.deleteFiles({ force: true }).catch(() => undefined);
  await bucket.delete().catch(() => undefined);
}

/** Stores `data` at `path` (`bucket/key`) exactly as given, as other tools do (`dir/` markers): the conformance suite's rawPut. */
export async function putRaw(storage: Storage, path: string, data: Uint8Array): Promise<void> {
  const { bucket, key } = splitBucketPath(path);
  await storage.bucket(bucket).file(key).save(Buffer.from(data), { resumable: false });
}

/** Deterministic bytes: word i (big-endian uint32) holds start/4 + i, so any slice is checkable. */
export function countingBytes(length: number, start = 0): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  for (let i = 0; i + 4 <= length; i += 4) view.setUint32(i, (start + i) / 4);
  return out;
}

export interface RecordedRequest {
  method: string;
  url: string;
  status: number;
  contentRange: string | undefined;
  bodyBytes: number;
}

/** The real global fetch, with every request of the upload path written down for assertions. */
export function recordingFetch(): { fetch: typeof fetch; calls: RecordedRequest[] } {
  const calls: RecordedRequest[] = [];
  const recorder: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const headers = new Headers(init?.headers);
    const body = init?.body;
    calls.push({
      method: init?.method ?? 'GET',
      url: input instanceof Request ? input.url : String(input),
      status: response.status,
      contentRange: headers.get('content-range') ?? undefined,
      bodyBytes: body instanceof Uint8Array ? body.byteLength : typeof body === 'string' ? body.length : 0,
    });
    return response;
  };
  return { fetch: recorder, calls };
}

/**
 * A loopback HTTP proxy in front of the emulator that writes down every request line
 * ("METHOD /path?query"), so tests can check what actually went over the wire, and counts the
 * client connections still open to it.
 */
export async function startRecordingProxy(
  target: string,
): Promise<{ endpoint: string; requests: string[]; openConnections(): number; close(): Promise<void> }> {
  const { createServer, request } = await import('node:http');
  const upstream = new URL(target);
  const requests: string[] = [];
  const proxy = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const forward = request(
      { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  // Idle connections stay until the client closes them, so openConnections() shows the client's pool.
  proxy.keepAliveTimeout = 120_000;
  const open = new Set<import('node:net').Socket>();
  proxy.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    openConnections: () => open.size,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

export const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Child processes and fs-core's registry load the built package: rebuild when a source file is newer. */
export function ensureBuilt(): void {
  const mtime = (file: string) => {
    try {
      return statSync(file).mtimeMs;
    } catch {
      return 0;
    }
  };
  const built = mtime(`${packageDir}dist/index.js`);
  const newest = Math.max(...readdirSync(`${packageDir}src`).map((f) => mtime(`${packageDir}src/${f}`)));
  if (newest > built) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: packageDir, stdio: 'inherit' });
}
