import type { Readable } from 'node:stream';

import { pacedBody } from './timeouts.js';
import { ERROR_DOCUMENT_LIMIT, readErrorDocument, shortReadError, tooLongError, type BodyContext } from './body.js';

/**
 * What `requestBytes` needs of an undici Dispatcher (an Agent or Pool): its `dispatch` with the
 * handler callbacks undici 6 calls. Typed here so fs-core does not depend on undici.
 */
export interface BytesDispatcher {
  dispatch(
    options: { origin: string; path: string; method: 'GET' | 'PUT'; headers: Record<string, string>; body?: Uint8Array | Readable | undefined },
    handler: {
      onConnect(abort: (reason?: Error) => void): void;
      onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
      onData(chunk: Buffer): boolean;
      onComplete(trailers: unknown): void;
      onError(error: Error): void;
    },
  ): boolean;
}

export interface BytesRequest {
  /** `scheme://host[:port]` */
  origin: string;
  /** Path and query, already encoded. */
  path: string;
  method: 'GET' | 'PUT';
  headers: Record<string, string>;
  body?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
}

/** Header names in lower case; a header sent more than once is an array, as undici's `request` gives it. */
export type AnswerHeaders = Record<string, string | string[] | undefined>;

/** A 2xx answer with its whole body. */
export interface BytesAnswer {
  statusCode: number;
  headers: AnswerHeaders;
  body: Buffer;
}

/**
 * Makes the error a backend throws for a non-2xx answer, in the shape its error mapper reads (the
 * SDK's). `document` is the error body's text; undefined when it was longer than any error document.
 */
export type RefusalShaper = (statusCode: number, headers: AnswerHeaders, document: string | undefined) => Error;

/**
 * One request whose whole answer is wanted in memory, through undici's dispatcher API. undici's
 * `request` wraps every answer in a Node stream; for a 4 KiB GET that stream was a fifth of the
 * CPU, and for 64 MiB ranges 8% (bench/README.md). A 2xx body with a Content-Length is copied
 * chunk by chunk into one unpooled buffer of that length; one that ends early or runs long is a
 * retryable StorageError, as in `readBodyExactly`. Any other answer is thrown as `refuse` makes it,
 * a cancelled request as an error named AbortError (the SDKs' name for it), and a failed one as
 * undici's error.
 */
export async function requestBytes(dispatcher: BytesDispatcher, request: BytesRequest, ctx: BodyContext, refuse: RefusalShaper): Promise<BytesAnswer> {
  const { signal } = request;
  let answer: Answer;
  try {
    answer = await dispatchForBytes(dispatcher, request, ctx);
  } catch (error) {
    throw cancelled(error, signal);
  }
  if (!answer.ok) throw refuse(answer.statusCode, answer.headers, answer.document);
  return answer;
}

/**
 * Awaits `send` (undici's `request`, for an answer read as a stream) with the error conventions of
 * `requestBytes`: a non-2xx answer is thrown as `refuse` makes it, after reading its error document.
 */
export async function requestStream<T extends { statusCode: number; headers: AnswerHeaders; body: Readable }>(
  send: () => Promise<T>,
  signal: AbortSignal | undefined,
  refuse: RefusalShaper,
): Promise<T> {
  let answer: T;
  try {
    answer = await send();
  } catch (error) {
    throw cancelled(error, signal);
  }
  if (answer.statusCode >= 200 && answer.statusCode < 300) return answer;
  throw refuse(answer.statusCode, answer.headers, await readErrorDocument(answer.body, Number(answer.headers['content-length'])));
}

/** undici rejects with the signal's reason (a TimeoutError for AbortSignal.timeout); the SDKs, and so the error mappers, call any cancelled request an AbortError. */
function cancelled(error: unknown, signal: AbortSignal | undefined): unknown {
  if (!signal?.aborted) return error;
  return Object.assign(new Error('The request was aborted', { cause: error }), { name: 'AbortError' });
}

type Answer = ({ ok: true } & BytesAnswer) | { ok: false; statusCode: number; headers: AnswerHeaders; document: string | undefined };

function dispatchForBytes(dispatcher: BytesDispatcher, request: BytesRequest, ctx: BodyContext): Promise<Answer> {
  const { signal } = request;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<Answer>((resolve, reject) => {
    let abort: ((reason?: Error) => void) | undefined;
    let settled = false;
    let statusCode = 0;
    let headers: AnswerHeaders = {};
    /** A 2xx body of known length, filled in place. */
    let exact: Buffer | undefined;
    let filled = 0;
    /** Any other body: its chunks, up to ERROR_DOCUMENT_LIMIT for error answers. */
    let chunks: Buffer[] | undefined;
    let documentDropped = false;

    /** The error this handler aborts with when a body runs long, passed on as it is. */
    let tooLong: Error | undefined;
    const onAbort = () => {
      if (abort) abort(signal?.reason as Error);
      // Not connected yet: settle now; onConnect aborts the request when it comes.
      else finish(() => reject(signal?.reason as Error));
    };
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const answerWithDocument = () =>
      resolve({ ok: false, statusCode, headers, document: documentDropped ? undefined : Buffer.concat(chunks ?? []).toString('utf8') });

    signal?.addEventListener('abort', onAbort, { once: true });
    dispatcher.dispatch(
      { origin: request.origin, path: request.path, method: request.method, headers: request.headers, body: request.body && pacedBody(request.body) },
      {
        onConnect(abortRequest) {
          abort = abortRequest;
          if (signal?.aborted) abortRequest(signal.reason as Error);
        },
        onHeaders(status, rawHeaders) {
          statusCode = status;
          headers = parseHeaders(rawHeaders);
          const length = headers['content-length'];
          if (status >= 200 && status < 300 && typeof length === 'string' && /^\d+$/.test(length)) {
            // Every byte is overwritten before it is returned; not pooled, so the caller owns it all.
            exact = Buffer.allocUnsafeSlow(Number(length));
          } else {
            chunks = [];
          }
          return true;
        },
        onData(chunk) {
          if (exact) {
            if (chunk.length > exact.length - filled) {
              tooLong = tooLongError(ctx, exact.length);
              abort?.(tooLong);
              return false;
            }
            exact.set(chunk, filled);
            filled += chunk.length;
            return true;
          }
          filled += chunk.length;
          const isError = statusCode < 200 || statusCode >= 300;
          if (isError && filled > ERROR_DOCUMENT_LIMIT) {
            // Longer than any error document: stop reading it and answer without it.
            documentDropped = true;
            finish(answerWithDocument);
            abort?.();
            return false;
          }
          chunks!.push(chunk);
          return true;
        },
        onComplete() {
          finish(() => {
            if (statusCode < 200 || statusCode >= 300) return answerWithDocument();
            if (exact && filled !== exact.length) return reject(shortReadError(ctx, ctx.start + filled, ctx.start + exact.length));
            resolve({ ok: true, statusCode, headers, body: exact ?? unpooledConcat(chunks ?? [], filled) });
          });
        },
        onError(error) {
          finish(() => {
            if (signal?.aborted || error === tooLong || statusCode === 0) return reject(error);
            // Headers came: an error answer stands without its document, and a 2xx body cut off
            // (reset, Content-Length mismatch) is a short read, which a fresh request may well complete.
            if (statusCode < 200 || statusCode >= 300) {
              documentDropped = true;
              return answerWithDocument();
            }
            if (exact) return reject(shortReadError(ctx, ctx.start + filled, ctx.start + exact.length, error));
            reject(error);
          });
        },
      },
    );
  });
}

/** The chunks in one buffer of its own: Buffer.concat would put a small body in Node's shared pool. */
function unpooledConcat(chunks: Buffer[], length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function parseHeaders(raw: Buffer[]): AnswerHeaders {
  const headers: AnswerHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    const value = raw[i + 1]!.toString('utf8');
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else headers[name] = [seen, value];
  }
  return headers;
}
