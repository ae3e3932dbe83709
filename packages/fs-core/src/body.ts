import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

import { StorageError } from './errors.js';

/** Where a body comes from, for error messages. */
export interface BodyContext {
  protocol: string;
  path: string;
  /** Offset of the body's first byte in the object. */
  start: number;
}

/** The retryable error for a body that ended before the bytes it promised (byte offsets are in the object). */
export function shortReadError(where: { protocol: string; path: string }, got: number, expected: number, cause?: unknown): StorageError {
  return new StorageError(
    { path: where.path, protocol: where.protocol, retryable: true, cause },
    `Short read from ${where.protocol}://${where.path}: the body ended at byte ${got} of ${expected}`,
  );
}

/** The retryable error for a body longer than announced: as much a transport fault as an early end, a fresh request may well be whole. */
export function tooLongError(where: { protocol: string; path: string }, length: number): StorageError {
  return new StorageError({ path: where.path, protocol: where.protocol, retryable: true }, `Body of ${where.protocol}://${where.path} is longer than the ${length} bytes announced`);
}

/**
 * Reads a response body of `length` bytes into one Buffer, copying each chunk as it arrives, so a
 * range is held once (not as chunks plus their concatenation). Takes a Node stream (read through
 * 'data' events, the cheapest way) or any async iterable of chunks (web streams, generators). A body
 * that ends early or runs long is a retryable StorageError, never short or cut data.
 */
export async function readBodyExactly(body: Readable | AsyncIterable<Uint8Array>, length: number, ctx: BodyContext): Promise<Buffer> {
  // Every byte is overwritten before the buffer is returned, so it needs no zero-fill; not pooled,
  // so the caller owns the whole ArrayBuffer.
  const out = Buffer.allocUnsafeSlow(length);
  let filled = 0;
  /** Copies `chunk` in, or returns the error for a body longer than announced. */
  const append = (chunk: Uint8Array): StorageError | undefined => {
    if (chunk.length > length - filled) return tooLongError(ctx, length);
    out.set(chunk, filled);
    filled += chunk.length;
    return undefined;
  };
  if (isNodeStream(body)) {
    const onData = (chunk: Uint8Array) => {
      const tooLong = append(chunk);
      if (tooLong) body.destroy(tooLong);
    };
    body.on('data', onData);
    try {
      await finished(body, { writable: false });
    } catch (error) {
      // Closed without an error of its own (a destroyed socket): as cut short as an early end.
      if ((error as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') throw shortReadError(ctx, ctx.start + filled, ctx.start + length);
      throw error;
    } finally {
      body.off('data', onData);
    }
  } else {
    for await (const chunk of body) {
      const tooLong = append(chunk);
      if (tooLong) throw tooLong; // leaving the loop cancels the body
    }
  }
  if (filled !== length) throw shortReadError(ctx, ctx.start + filled, ctx.start + length);
  return out;
}

function isNodeStream(body: Readable | AsyncIterable<Uint8Array>): body is Readable {
  return typeof (body as Readable).on === 'function' && typeof (body as Readable).destroy === 'function';
}

/**
 * Destroys a response body nobody will read. Some clients' bodies (undici's) emit an error when
 * destroyed unfinished, which would be an uncaught exception without a listener.
 */
export function discardBody(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** An error document (S3's or Azure's XML, a JSON error) is at most a few KiB; more is not one. */
export const ERROR_DOCUMENT_LIMIT = 64 << 10;

/**
 * The text of an error answer's body, or undefined when it is longer than any error document (it
 * is then dropped unread) or fails. Stores often send errors chunked, with no Content-Length, so
 * the length is counted as it arrives.
 */
export async function readErrorDocument(body: Readable, declaredLength: number, limit = ERROR_DOCUMENT_LIMIT): Promise<string | undefined> {
  if (declaredLength > limit) {
    discardBody(body);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.byteLength;
      if (size > limit) {
        discardBody(body);
        return undefined;
      }
      chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks).toString('utf8');
}
