import { Readable, pipeline, type Transform } from 'node:stream';
import { json as readJson, text as readText } from 'node:stream/consumers';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

import type { Storage } from '@google-cloud/storage';
import { discardBody, pacedBody, undiciTimeouts, type RequestTimeouts } from '@strata/fs-core';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';

import { GcsCredentialsError, GcsHttpError, parseRetryAfter } from './errors.js';
import { originOf, timeoutsOf } from './options.js';

/** One request as the adapter sends it (auth headers are added by GcsHttp). */
interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string | undefined;
  signal?: AbortSignal | undefined;
}

/** An HTTP answer as the adapter reads it, whichever client fetched it. */
export interface HttpAnswer {
  readonly status: number;
  header(name: string): string | null;
  /** The body's bytes as they arrive (decoded if the server compressed them). */
  readonly body: Readable | AsyncIterable<Uint8Array>;
  json(): Promise<unknown>;
  text(): Promise<string>;
  /** Reads the rest of a small body and drops it, so the connection is reused. */
  drain(): Promise<void>;
  /** Stops reading the body; its connection is closed. */
  cancel(): Promise<void>;
}

/**
 * Every request the adapter makes, against the JSON API, authenticated with the SDK's own auth
 * client. Not the SDK's request path: that one cannot take an AbortSignal, buffers whole streams,
 * misses bodies cut short, and keeps sockets in a process-wide pool close() cannot reach. Sent with
 * undici's `request` (Node streams, no WHATWG stream layer per chunk) on a pool of our own, or
 * through a fetch the caller injects. The pool has the filesystem's read and connect timeouts as
 * undici's headers and body timeouts (undici's own defaults, 300 s, would let a server that went
 * quiet hold a try for five minutes); fs-core's RetryPolicy reports them as TimeoutError.
 */
export class GcsHttp {
  readonly origin: string;
  private readonly authenticated: boolean;
  private readonly fetchImpl: typeof fetch | undefined;
  /**
   * Our own connection pool (unless a fetch was injected), so close() can release its sockets.
   * Made on demand: a filesystem shared through fs-core's instance cache may be used again after
   * one holder closed it, and then simply opens new sockets.
   */
  private dispatcher: Dispatcher | undefined;
  private readonly timeouts: RequestTimeouts;

  constructor(
    private readonly storage: Storage,
    fetchImpl?: typeof fetch,
  ) {
    this.origin = originOf(storage);
    this.timeouts = timeoutsOf(storage);
    // Same rule as the SDK: a custom endpoint (emulator) gets no token unless asked for.
    this.authenticated = !storage.customEndpoint || storage.useAuthWithCustomEndpoint === true;
    this.fetchImpl = fetchImpl;
  }

  uploadUrl(bucket: string, query: Record<string, string>): string {
    const qs = new URLSearchParams(query).toString();
    return `${this.origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?${qs}`;
  }

  /** A JSON API URL; `path` starts with `/` and has its segments encoded already. */
  apiUrl(path: string, query: Record<string, string> = {}): string {
    const qs = new URLSearchParams(query).toString();
    return `${this.origin}/storage/v1${path}${qs ? `?${qs}` : ''}`;
  }

  /** The JSON API URL of one object (`alt=media` in `query` downloads its bytes). */
  objectUrl(bucket: string, key: string, query: Record<string, string> = {}): string {
    return this.apiUrl(objectPath(bucket, key), query);
  }

  /** Sends a request (a JSON `body` if given) and parses its JSON answer: an object resource, a listing page... */
  async json<T>(url: string, init: JsonRequest): Promise<T> {
    const answer = await this.send(url, jsonInit(init));
    return (await answer.json()) as T;
  }

  /** Sends a request whose answer carries nothing we need; the body is drained so the socket is reused. */
  async call(url: string, init: JsonRequest): Promise<void> {
    const answer = await this.send(url, jsonInit(init));
    // The status already says it worked: a body lost after that is no failure.
    await answer.drain().catch(() => undefined);
  }

  /** Closes the sockets of our own pool; an injected fetch is left to its owner. */
  async close(): Promise<void> {
    // destroy, not close: a reader that stopped early must not keep close() waiting.
    const dispatcher = this.dispatcher;
    this.dispatcher = undefined;
    await dispatcher?.destroy();
  }

  /** Sends one request; resolves with the answer for 2xx, 308 and `okStatuses`, else throws GcsHttpError. */
  async send(url: string, init: HttpRequest, okStatuses: number[] = []): Promise<HttpAnswer> {
    const headers: Record<string, string> = { ...(await this.authHeaders()), ...init.headers };
    const answer = this.fetchImpl ? await this.viaFetch(this.fetchImpl, url, init, headers) : await this.viaUndici(url, init, headers);
    if ((answer.status >= 200 && answer.status < 300) || answer.status === 308 || okStatuses.includes(answer.status)) {
      return answer;
    }
    throw await httpErrorOf(answer);
  }

  private async viaUndici(url: string, init: HttpRequest, headers: Record<string, string>): Promise<HttpAnswer> {
    this.dispatcher ??= newDispatcher(this.timeouts);
    let payload: Uint8Array | string | Readable | null = init.body ?? null;
    if (payload instanceof Uint8Array) {
      // A large body goes out in slices (pacedBody), so it needs its length up front.
      if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-length')) headers['content-length'] = String(payload.byteLength);
      payload = pacedBody(payload);
    }
    // No redirects are followed: 308 is "resume incomplete" in this protocol. No Accept-Encoding is
    // sent, so GCS serves gzip-encoded objects decompressed; a server that compresses anyway is decoded.
    const { statusCode, headers: answerHeaders, body } = await request(url, {
      method: init.method as Dispatcher.HttpMethod,
      headers,
      body: payload,
      signal: init.signal,
      dispatcher: this.dispatcher,
    });
    const header = (name: string): string | null => {
      const value = answerHeaders[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    };
    const decoder = decoderFor(header('content-encoding'));
    const decoded = decoder ? pipeline(body, decoder, () => undefined) : body;
    return {
      status: statusCode,
      header,
      body: decoded,
      json: () => readJson(decoded),
      text: () => readText(decoded),
      drain: async () => {
        // A compressed body is rare and small here: closing it (and its connection) is enough.
        if (decoder) discardBody(decoded);
        else await body.dump();
      },
      // With a decoder, the pipeline closes the raw body too.
      cancel: async () => discardBody(decoded),
    };
  }

  private async viaFetch(fetchImpl: typeof fetch, url: string, init: HttpRequest, headers: Record<string, string>): Promise<HttpAnswer> {
    const response = await fetchImpl(url, { method: init.method, headers, body: init.body ?? null, signal: init.signal ?? null, redirect: 'manual' });
    return {
      status: response.status,
      header: (name) => response.headers.get(name),
      // A web stream iterates its chunks itself, and leaving the loop early cancels it.
      body: response.body ?? Readable.from([]),
      json: () => response.json(),
      text: () => response.text(),
      drain: async () => {
        await response.arrayBuffer();
      },
      cancel: async () => {
        await response.body?.cancel();
      },
    };
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (!this.authenticated) return {};
    let headers: unknown;
    try {
      headers = await this.storage.authClient.getRequestHeaders();
    } catch (error) {
      // Its status is the token endpoint's, not Cloud Storage's: keep it from being read as ours.
      throw new GcsCredentialsError(error);
    }
    // google-auth-library 9 returns a plain object; later majors return a Headers instance.
    if (headers instanceof Headers) return Object.fromEntries(headers.entries());
    return { ...(headers as Record<string, string>) };
  }
}

interface JsonRequest {
  method: string;
  body?: unknown;
  signal?: AbortSignal | undefined;
}

function jsonInit({ method, body, signal }: JsonRequest) {
  if (body === undefined) return { method, signal };
  return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal };
}

/** `/b/{bucket}/o/{key}`, each part encoded. */
export function objectPath(bucket: string, key: string): string {
  return `/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}`;
}

async function httpErrorOf(answer: HttpAnswer): Promise<GcsHttpError> {
  let message = '';
  try {
    const text = await answer.text();
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string } | string };
      message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? text);
    } catch {
      message = text;
    }
  } catch {
    // The body is only for the message.
  }
  return new GcsHttpError(answer.status, message.slice(0, 1000), parseRetryAfter(answer.header('retry-after')));
}

const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'];

/**
 * A pool that honours HTTPS_PROXY/HTTP_PROXY (and NO_PROXY) like the SDK's gaxios path does, or a
 * plain one when no proxy is set (EnvHttpProxyAgent warns once that it is experimental).
 */
function newDispatcher(timeouts: RequestTimeouts): Dispatcher {
  const limits = undiciTimeouts(timeouts);
  return PROXY_VARIABLES.some((name) => process.env[name]) ? new EnvHttpProxyAgent(limits) : new Agent(limits);
}

/** The decompressor for a Content-Encoding fetch would also decode, or none for identity. */
function decoderFor(encoding: string | null): Transform | undefined {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}
