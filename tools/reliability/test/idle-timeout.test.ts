/**
 * Every backend's inactivity limit (`readTimeoutMs`), against real loopback servers: a server that
 * accepts the connection and never answers fails each try with a retryable TimeoutError, which the
 * retry policy retries and then reports, instead of hanging (undici waited 300 s per try, the AWS
 * and Azure SDKs forever). A server that answers slowly but keeps sending, on the other hand, is
 * waited for, however long the whole answer takes: the limit is one of inactivity, not of the
 * whole request. The limit is set small here (300 ms) so the tests stay fast.
 */
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { TimeoutError, type FileSystem } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FaultProxy } from '../src/fault-proxy.js';
import { BACKENDS, makeFs, probe, serverOrigin, startProxy, uniqueName, type BackendName } from './support/backends.js';

const READ_TIMEOUT_MS = 300;
const ATTEMPTS = 2;
const retry = { attempts: ATTEMPTS, baseDelayMs: 1, maxDelayMs: 10 };
const KiB = 1024;
/** Larger than the 256 KiB slices the undici paths write big bodies in. */
const BIG = new Uint8Array(600 * KiB).fill(7);
const OBJECT = new Uint8Array(1024 * KiB).map((_, i) => i % 251);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with what `run` settled with and how long it took. */
async function timed(run: () => Promise<unknown>): Promise<{ error: unknown; value: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    const value = await run();
    return { error: undefined, value, ms: Date.now() - t0 };
  } catch (error) {
    return { error, value: undefined, ms: Date.now() - t0 };
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

/**
 * A loopback proxy that answers slowly but steadily: it holds each answer's headers for
 * `headerDelayMs`, then sends its body `pieceBytes` at a time, one piece every `intervalMs`.
 */
interface Trickle {
  url: string;
  /** Answers that took longer in all than the read timeout. */
  slowAnswers: number;
  close(): Promise<void>;
}

async function startTrickle(target: string, pace: { headerDelayMs: number; pieceBytes: number; intervalMs: number }): Promise<Trickle> {
  const origin = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const trickle = { url: '', slowAnswers: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const t0 = Date.now();
    const relay = async (answer: IncomingMessage) => {
      const chunks: Buffer[] = [];
      for await (const chunk of answer) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      await sleep(pace.headerDelayMs);
      const headers = forwardable(answer.headers);
      if (req.method !== 'HEAD') headers['content-length'] = String(body.length);
      res.writeHead(answer.statusCode ?? 502, headers);
      res.flushHeaders();
      for (let offset = 0; offset < body.length; offset += pace.pieceBytes) {
        await sleep(pace.intervalMs);
        if (res.destroyed) return;
        res.write(body.subarray(offset, offset + pace.pieceBytes));
      }
      res.end();
      if (Date.now() - t0 > READ_TIMEOUT_MS) trickle.slowAnswers += 1;
    };
    const upstream = httpRequest({ host: origin.hostname, port: origin.port, method: req.method, path: req.url, headers: forwardable(req.headers), agent }, (answer) => {
      relay(answer).catch(() => res.destroy());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  trickle.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  trickle.close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    agent.destroy();
  };
  return trickle;
}

describe.each(BACKENDS)('%s: readTimeoutMs', (name: BackendName) => {
  const bucket = uniqueName('idle');
  const server = probe(name);
  let direct: FileSystem;
  let proxy: FaultProxy;
  let stalled: FileSystem;

  beforeAll(async () => {
    await server.createBucket(bucket);
    direct = makeFs(name);
    await direct.pipe(`${bucket}/small.txt`, 'hello world');
    await direct.pipe(`${bucket}/object.bin`, OBJECT);
    for (let i = 0; i < 40; i++) await direct.pipe(`${bucket}/dir/f${String(i).padStart(2, '0')}.txt`, `file ${i}`);
    // The proxy holds stalled requests far longer than any test runs (never resets them itself).
    proxy = await startProxy(name, [], 1, 600_000);
    stalled = makeFs(name, { origin: proxy.url, retry, extra: { readTimeoutMs: READ_TIMEOUT_MS } });
  });

  afterAll(async () => {
    await stalled?.close();
    await proxy?.close();
    await direct?.close();
    await server.destroyBucket(bucket).catch(() => undefined);
    server.close();
  });

  const stallCases: Array<[string, (fs: FileSystem) => Promise<unknown>]> = [
    ['info', (fs) => fs.info(`${bucket}/small.txt`)],
    ['ls', (fs) => fs.ls(`${bucket}/dir`)],
    ['cat', (fs) => fs.cat(`${bucket}/object.bin`)],
    ['cat of a range', (fs) => fs.cat(`${bucket}/object.bin`, { start: 10, end: 20 })],
    ['pipe (small)', (fs) => fs.pipe(`${bucket}/new-small.txt`, 'x')],
    ['pipe (600 KiB, sent in slices)', (fs) => fs.pipe(`${bucket}/new-big.bin`, BIG)],
    [
      'open rb stream',
      async (fs) => {
        const handle = await fs.open(`${bucket}/object.bin`, 'rb');
        try {
          for await (const _ of handle.stream());
        } finally {
          await handle.close();
        }
      },
    ],
  ];

  it.each(stallCases)(
    'a server that never answers: %s rejects with a retryable TimeoutError after the retries, no hang',
    async (_label, op) => {
      proxy.setRules([{ fault: 'stall' }]);
      proxy.resetStats();
      try {
        const { error, ms } = await timed(() => op(stalled));
        expect(error).toBeInstanceOf(TimeoutError);
        const timeout = error as TimeoutError;
        expect(timeout.code).toBe('ETIMEDOUT');
        expect(timeout.retryable).toBe(true);
        expect(timeout.protocol).toBeTruthy();
        expect(timeout.path).toContain(bucket);
        expect(timeout.message).toContain(bucket);
        // Retried: every try was held by the proxy until the client gave up on it.
        expect(proxy.stats.faults.stall ?? 0).toBeGreaterThanOrEqual(ATTEMPTS);
        // Each try gave up after about the read timeout (generously bounded for a loaded machine).
        expect(ms).toBeGreaterThanOrEqual(ATTEMPTS * READ_TIMEOUT_MS - 50);
        expect(ms).toBeLessThan(15_000);
      } finally {
        proxy.clearRules();
      }
    },
    30_000,
  );

  it('info fails each try after the read timeout and retries exactly as the policy says', async () => {
    proxy.setRules([{ fault: 'stall' }]);
    proxy.resetStats();
    try {
      const { error } = await timed(() => stalled.info(`${bucket}/small.txt`));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(proxy.stats.requests).toBe(ATTEMPTS);
    } finally {
      proxy.clearRules();
    }
  }, 30_000);

  it('the filesystem works again once the server answers', async () => {
    proxy.clearRules();
    expect(new TextDecoder().decode(await stalled.cat(`${bucket}/small.txt`))).toBe('hello world');
  }, 30_000);

  describe('a slow answer that keeps coming is waited for', () => {
    it('cat, open rb and info through a server that sends 64 KiB every 100 ms (1 MiB in ~1.6 s, five times the limit)', async () => {
      const trickle = await startTrickle(serverOrigin(name), { headerDelayMs: 200, pieceBytes: 64 * KiB, intervalMs: 100 });
      const fs = makeFs(name, { origin: trickle.url, retry: { attempts: 1 }, extra: { readTimeoutMs: READ_TIMEOUT_MS } });
      try {
        const { error, value, ms } = await timed(() => fs.cat(`${bucket}/object.bin`));
        expect(error).toBeUndefined();
        expect(Buffer.from(value as Uint8Array).equals(Buffer.from(OBJECT))).toBe(true);
        expect(ms).toBeGreaterThan(4 * READ_TIMEOUT_MS);

        const handle = await fs.open(`${bucket}/object.bin`, 'rb');
        let streamed = 0;
        try {
          for await (const chunk of handle.stream()) streamed += chunk.length;
        } finally {
          await handle.close();
        }
        expect(streamed).toBe(OBJECT.length);

        expect((await fs.info(`${bucket}/small.txt`)).size).toBe(11);
        expect(trickle.slowAnswers).toBeGreaterThan(0);
      } finally {
        await fs.close();
        await trickle.close();
      }
    }, 60_000);

    it('ls through a server that sends its listing 512 bytes every 100 ms', async () => {
      const trickle = await startTrickle(serverOrigin(name), { headerDelayMs: 200, pieceBytes: 512, intervalMs: 100 });
      const fs = makeFs(name, { origin: trickle.url, retry: { attempts: 1 }, extra: { readTimeoutMs: READ_TIMEOUT_MS } });
      try {
        const { error, value, ms } = await timed(() => fs.ls(`${bucket}/dir`));
        expect(error).toBeUndefined();
        expect((value as unknown[]).length).toBe(40);
        // The listing took several times the limit in all, yet nothing timed out.
        expect(ms).toBeGreaterThan(3 * READ_TIMEOUT_MS);
      } finally {
        await fs.close();
        await trickle.close();
      }
    }, 60_000);
  });
});
