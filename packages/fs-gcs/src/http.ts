import type { Storage } from '@google-cloud/storage';
import { Agent } from 'undici';

import { GcsHttpError, parseRetryAfter } from './errors.js';
import { originOf } from './options.js';

/**
 * Every request the adapter makes: plain fetch against the JSON API, authenticated with the SDK's
 * own auth client. Not the SDK's request path: that one cannot take an AbortSignal, buffers whole
 * streams, misses bodies cut short, and keeps sockets in a process-wide pool close() cannot reach.
 */
export class GcsHttp {
  readonly origin: string;
  private readonly authenticated: boolean;
  private readonly fetchImpl: typeof fetch;
  /**
   * Our own connection pool (unless a fetch was injected), so close() can release its sockets.
   * Made on demand: a filesystem shared through fs-core's instance cache may be used again after
   * one holder closed it, and then simply opens new sockets.
   */
  private dispatcher: Agent | undefined;

  constructor(
    private readonly storage: Storage,
    fetchImpl?: typeof fetch,
  ) {
    this.origin = originOf(storage);
    // Same rule as the SDK: a custom endpoint (emulator) gets no token unless asked for.
    this.authenticated = !storage.customEndpoint || storage.useAuthWithCustomEndpoint === true;
    if (fetchImpl) {
      this.fetchImpl = fetchImpl;
    } else {
      // Node's fetch takes an undici dispatcher; the DOM typings do not know the option.
      this.fetchImpl = (input, init) => {
        this.dispatcher ??= new Agent();
        return globalThis.fetch(input, { ...init, dispatcher: this.dispatcher } as RequestInit);
      };
    }
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
    const response = await this.send(url, jsonInit(init));
    return (await response.json()) as T;
  }

  /** Sends a request whose answer carries nothing we need; the body is drained so the socket is reused. */
  async call(url: string, init: JsonRequest): Promise<void> {
    const response = await this.send(url, jsonInit(init));
    // The status already says it worked: a body lost after that is no failure.
    await response.arrayBuffer().catch(() => undefined);
  }

  /** Closes the sockets of our own pool; an injected fetch is left to its owner. */
  async close(): Promise<void> {
    // destroy, not close: a reader that stopped early must not keep close() waiting.
    const dispatcher = this.dispatcher;
    this.dispatcher = undefined;
    await dispatcher?.destroy();
  }

  /** Sends one request; resolves with the response for 2xx, 308 and `okStatuses`, else throws GcsHttpError. */
  async send(
    url: string,
    init: { method: string; headers?: Record<string, string>; body?: Blob | Uint8Array | string | undefined; signal?: AbortSignal | undefined },
    okStatuses: number[] = [],
  ): Promise<Response> {
    const headers: Record<string, string> = { ...(await this.authHeaders()), ...init.headers };
    const response = await this.fetchImpl(url, {
      method: init.method,
      headers,
      body: init.body ?? null,
      signal: init.signal ?? null,
      redirect: 'manual', // 308 is "resume incomplete" in this protocol, not a redirect
    });
    if ((response.status >= 200 && response.status < 300) || response.status === 308 || okStatuses.includes(response.status)) {
      return response;
    }
    throw await httpErrorOf(response);
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (!this.authenticated) return {};
    const headers = (await this.storage.authClient.getRequestHeaders()) as unknown;
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

async function httpErrorOf(response: Response): Promise<GcsHttpError> {
  let message = '';
  try {
    const text = await response.text();
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string } | string };
      message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? text);
    } catch {
      message = text;
    }
  } catch {
    // The body is only for the message.
  }
  return new GcsHttpError(response.status, message.slice(0, 1000), parseRetryAfter(response.headers.get('retry-after')));
}
