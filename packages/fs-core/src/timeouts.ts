import { Readable } from 'node:stream';

/** Inactivity and connection limits of a backend's requests, in ms; 0 is none. */
export interface RequestTimeouts {
  readTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Longest wait for the next bytes of an answer (or for a request body to move on), as botocore's read_timeout. */
export const DEFAULT_READ_TIMEOUT_MS = 60_000;
/** Longest wait for a TCP (and TLS) connection to be set up, undici's own default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** A backend's `readTimeoutMs` / `connectTimeoutMs` options, checked, with the defaults filled in. */
export function resolveRequestTimeouts(options: { readTimeoutMs?: number | undefined; connectTimeoutMs?: number | undefined }): RequestTimeouts {
  const check = (name: string, value: number) => {
    if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`${name} must be a number of milliseconds >= 0, got ${value}`);
    return value;
  };
  return {
    readTimeoutMs: check('readTimeoutMs', options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS),
    connectTimeoutMs: check('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
  };
}

/** The limits as undici's Agent takes them: the read limit bounds the wait for headers and between body chunks; 0 is none in both. */
export function undiciTimeouts({ readTimeoutMs, connectTimeoutMs }: RequestTimeouts): { headersTimeout: number; bodyTimeout: number; connectTimeout: number } {
  return { headersTimeout: readTimeoutMs, bodyTimeout: readTimeoutMs, connectTimeout: connectTimeoutMs };
}

/** Request bodies longer than this go out as a stream of slices this long (see `pacedBody`). */
const BODY_SLICE_BYTES = 256 * 1024;

/**
 * A request body as undici should get it. undici starts its headers timer when it writes the
 * request and, for a body given whole, does not restart it while the body drains: a large PUT on a
 * slow link would time out although it moves. Given slice by slice, the timer restarts after each,
 * so the read timeout is one of inactivity, as botocore's. The caller sends Content-Length.
 */
export function pacedBody(body: Uint8Array): Uint8Array | Readable {
  return body.byteLength > BODY_SLICE_BYTES ? Readable.from(slices(body)) : body;
}

function* slices(body: Uint8Array): Generator<Uint8Array> {
  for (let offset = 0; offset < body.byteLength; offset += BODY_SLICE_BYTES) yield body.subarray(offset, offset + BODY_SLICE_BYTES);
}
