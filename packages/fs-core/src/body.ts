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
export function shortReadError(where: { protocol: string; path: string }, got: number, expected: number): StorageError {
  return new StorageError(
    { path: where.path, protocol: where.protocol, retryable: true },
    `Short read from ${where.protocol}://${where.path}: the body ended at byte ${got} of ${expected}`,
  );
}

/**
 * Reads a response body of `length` bytes into one Buffer, copying each chunk as it arrives, so a
 * range is held once (not as chunks plus their concatenation). For adapters whose SDK hands back a
 * Node stream. A body that ends early is a retryable StorageError, never short data; one that runs
 * long fails.
 */
export async function readBodyExactly(body: Readable, length: number, ctx: BodyContext): Promise<Buffer> {
  // Every byte is overwritten before the buffer is returned, so it needs no zero-fill; not pooled,
  // so the caller owns the whole ArrayBuffer.
  const out = Buffer.allocUnsafeSlow(length);
  let filled = 0;
  const onData = (chunk: Uint8Array) => {
    if (chunk.length > length - filled) {
      body.destroy(new StorageError({ path: ctx.path, protocol: ctx.protocol }, `Body of ${ctx.protocol}://${ctx.path} is longer than the ${length} bytes announced`));
      return;
    }
    out.set(chunk, filled);
    filled += chunk.length;
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
  if (filled !== length) throw shortReadError(ctx, ctx.start + filled, ctx.start + length);
  return out;
}
