// requestBytes against a real HTTP server on loopback, through a real undici Agent, as the
// object-store backends use it; plus, through a dispatcher that plays undici's callbacks, what a
// loopback server cannot stage: a body longer than its Content-Length, and an abort that comes
// before the connection.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { StorageError, requestBytes, requestStream, type BytesDispatcher, type RefusalShaper } from '../src/index.js';
import { listenOnLoopback, type LoopbackServer } from '../src/testing/loopback.js';

const ctx = { protocol: 's3', path: 'b/k', start: 0 };
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse, body: Buffer) => void>();
let server: LoopbackServer;
let agent: Agent;

beforeAll(async () => {
  server = await listenOnLoopback(
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => routes.get(req.url ?? '')!(req, res, Buffer.concat(chunks)));
    }),
  );
  agent = new Agent({ keepAliveTimeout: 1000 });
});

afterAll(async () => {
  await agent.close();
  await server.close();
});

/** Refusals as a backend shapes them: here, the status and error document on a plain Error. */
const refuse: RefusalShaper = (statusCode, headers, document) => Object.assign(new Error(`refused: ${statusCode}`), { statusCode, headers, document });

const send = (path: string, options: { method?: 'GET' | 'PUT'; body?: Uint8Array; signal?: AbortSignal } = {}) =>
  requestBytes(agent, { origin: server.origin, path, method: options.method ?? 'GET', headers: { 'x-test': 'yes' }, body: options.body, signal: options.signal }, ctx, refuse);

describe('requestBytes', () => {
  it('returns a 2xx body of announced length in one unpooled buffer, and the headers', async () => {
    const payload = Buffer.alloc(300_000, 7);
    routes.set('/whole', (req, res) => {
      res.writeHead(200, { 'content-length': payload.length, 'x-seen': String(req.headers['x-test']) });
      res.end(payload);
    });
    const answer = await send('/whole');
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-seen']).toBe('yes');
    expect(answer.body.equals(payload)).toBe(true);
    expect(answer.body.byteOffset).toBe(0);
    expect(answer.body.buffer.byteLength).toBe(payload.length);
  });

  it('collects a body sent without a length (chunked), and gives repeated headers as an array', async () => {
    routes.set('/chunked', (_req, res) => {
      res.setHeader('x-many', ['a', 'b']);
      res.write('hello ');
      res.end('world');
    });
    const answer = await send('/chunked');
    expect(answer.body.toString()).toBe('hello world');
    // Its own memory, not a slice of Node's shared buffer pool.
    expect(answer.body.byteOffset).toBe(0);
    expect(answer.body.buffer.byteLength).toBe(11);
    expect(answer.headers['x-many']).toEqual(['a', 'b']);
  });

  it('sends a PUT body', async () => {
    routes.set('/put', (_req, res, body) => {
      res.writeHead(201, { 'x-received': String(body.length) });
      res.end();
    });
    const answer = await send('/put', { method: 'PUT', body: new Uint8Array(1234) });
    expect(answer.statusCode).toBe(201);
    expect(answer.headers['x-received']).toBe('1234');
  });

  it('throws an error answer as the backend shapes it, with its error document', async () => {
    routes.set('/missing', (_req, res) => {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end('<Error><Code>NoSuchKey</Code></Error>');
    });
    await expect(send('/missing')).rejects.toMatchObject({ statusCode: 404, document: '<Error><Code>NoSuchKey</Code></Error>' });
  });

  it('throws an error answer whose body never ends, past any error document, without it and without an unhandled error', async () => {
    routes.set('/endless', (_req, res) => {
      res.writeHead(500);
      const timer = setInterval(() => res.write(Buffer.alloc(16 << 10)), 1);
      res.on('close', () => clearInterval(timer));
    });
    await expect(send('/endless')).rejects.toMatchObject({ statusCode: 500, document: undefined });
  });

  it('a body cut short by a reset or a closed connection is a retryable short read: never short data', async () => {
    routes.set('/cut', (_req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write(Buffer.alloc(100), () => res.destroy());
    });
    routes.set('/closed-early', (_req, res) => {
      res.writeHead(200, { 'content-length': 1000, connection: 'close' });
      res.end(Buffer.alloc(100));
    });
    for (const path of ['/cut', '/closed-early']) {
      const error = await send(path).catch((e: unknown) => e);
      expect(error, path).toBeInstanceOf(StorageError);
      expect((error as StorageError).retryable).toBe(true);
      expect((error as Error).message).toMatch(/^Short read from s3:\/\/b\/k: the body ended at byte \d+ of 1000$/);
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
  });

  it('an error answer whose body is cut off is still thrown as the backend shapes it, without its document', async () => {
    routes.set('/refused-cut', (_req, res) => {
      res.writeHead(503, { 'content-length': 1000 });
      res.write('<Error>', () => res.destroy());
    });
    await expect(send('/refused-cut')).rejects.toMatchObject({ statusCode: 503, document: undefined });
  });

  it('rejects with an AbortError caused by the signal’s reason when aborted while the answer is on its way, or before', async () => {
    routes.set('/slow', (_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('12345');
    });
    const controller = new AbortController();
    const pending = send('/slow', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', cause: new Error('stop') });
    await expect(send('/whole', { signal: AbortSignal.abort(new Error('early')) })).rejects.toMatchObject({ name: 'AbortError', cause: new Error('early') });
  });
});

describe('requestStream', () => {
  const stream = (path: string, signal?: AbortSignal) => requestStream(() => request(`${server.origin}${path}`, { dispatcher: agent, signal }), signal, refuse);

  it('gives a 2xx answer with its body unread', async () => {
    routes.set('/stream-ok', (_req, res) => res.end('hello stream'));
    const answer = await stream('/stream-ok');
    expect(await answer.body.text()).toBe('hello stream');
  });

  it('throws an error answer as the backend shapes it, with its error document, or without one past the limit', async () => {
    routes.set('/stream-missing', (_req, res) => {
      res.writeHead(404);
      res.end('<Error><Code>NoSuchKey</Code></Error>');
    });
    routes.set('/stream-endless', (_req, res) => {
      res.writeHead(503);
      const timer = setInterval(() => res.write(Buffer.alloc(16 << 10)), 1);
      res.on('close', () => clearInterval(timer));
    });
    await expect(stream('/stream-missing')).rejects.toMatchObject({ statusCode: 404, document: '<Error><Code>NoSuchKey</Code></Error>' });
    await expect(stream('/stream-endless')).rejects.toMatchObject({ statusCode: 503, document: undefined });
  });

  it('a cancelled request is an AbortError caused by the signal’s reason', async () => {
    await expect(stream('/never-sent', AbortSignal.abort(new Error('early')))).rejects.toMatchObject({ name: 'AbortError', cause: new Error('early') });
  });
});

/** A dispatcher that answers with `chunks` after headers announcing `length` bytes, as undici calls a handler. */
function scripted(length: number, chunks: Buffer[]): BytesDispatcher & { aborted: unknown } {
  const fake = {
    aborted: undefined as unknown,
    dispatch(_options: unknown, handler: Parameters<BytesDispatcher['dispatch']>[1]) {
      let stopped = false;
      handler.onConnect((reason) => {
        stopped = true;
        fake.aborted = reason;
        handler.onError(reason ?? new Error('aborted'));
      });
      handler.onHeaders(200, [Buffer.from('Content-Length'), Buffer.from(String(length))], () => undefined, 'OK');
      for (const chunk of chunks) if (!stopped) handler.onData(chunk);
      if (!stopped) handler.onComplete([]);
      return true;
    },
  };
  return fake;
}

describe('requestBytes, through a dispatcher that plays undici’s callbacks', () => {
  it('a body longer than announced is a retryable StorageError and the request is aborted', async () => {
    const dispatcher = scripted(4, [Buffer.from('abc'), Buffer.from('def')]);
    const error = await requestBytes(dispatcher, { origin: 'http://x', path: '/', method: 'GET', headers: {} }, ctx, refuse).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).retryable).toBe(true);
    expect((error as Error).message).toBe('Body of s3://b/k is longer than the 4 bytes announced');
    expect(dispatcher.aborted).toBe(error);
  });

  it('a dispatcher that completes a body short of its length gives a retryable short read', async () => {
    const error = await requestBytes(scripted(10, [Buffer.from('abc')]), { origin: 'http://x', path: '/', method: 'GET', headers: {} }, { ...ctx, start: 100 }, refuse).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).retryable).toBe(true);
    expect((error as Error).message).toBe('Short read from s3://b/k: the body ended at byte 103 of 110');
  });

  it('an abort before the connection settles at once, and the request is aborted when it connects', async () => {
    let handler: Parameters<BytesDispatcher['dispatch']>[1] | undefined;
    const pending: BytesDispatcher = {
      dispatch(_options, h) {
        handler = h;
        return true;
      },
    };
    const controller = new AbortController();
    const answer = requestBytes(pending, { origin: 'http://x', path: '/', method: 'GET', headers: {}, signal: controller.signal }, ctx, refuse);
    controller.abort(new Error('stop'));
    await expect(answer).rejects.toMatchObject({ name: 'AbortError', cause: new Error('stop') });
    let abortedWith: unknown;
    handler!.onConnect((reason) => {
      abortedWith = reason;
    });
    expect(abortedWith).toEqual(new Error('stop'));
  });
});
