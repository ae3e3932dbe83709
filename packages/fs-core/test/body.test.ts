import { PassThrough, Readable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { StorageError, discardBody, readBodyExactly, readErrorDocument } from '../src/index.js';
import { scriptedBody as body } from '../src/testing/bodies.js';

const ctx = { protocol: 's3', path: 'b/k', start: 100 };


describe('readBodyExactly', () => {
  it('copies the chunks into one buffer of the announced length', async () => {
    const chunks = [Buffer.from('hello '), Buffer.from('range '), Buffer.from('world')];
    const out = await readBodyExactly(body(chunks), 17, ctx);
    expect(out).toBeInstanceOf(Buffer);
    expect(Buffer.from(out).toString()).toBe('hello range world');
    expect(out.byteOffset).toBe(0);
    expect(out.buffer.byteLength).toBe(17);
    // A copy, not one of the socket's chunks.
    chunks[0]!.fill(0);
    expect(Buffer.from(out).toString()).toBe('hello range world');
  });

  it('a body that ends early is a retryable short read, not short data', async () => {
    const error = await readBodyExactly(body([Buffer.alloc(10)]), 16, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).retryable).toBe(true);
    expect((error as Error).message).toBe('Short read from s3://b/k: the body ended at byte 110 of 116');
  });

  it('a body longer than announced fails', async () => {
    await expect(readBodyExactly(body([Buffer.alloc(10), Buffer.alloc(10)]), 16, ctx)).rejects.toThrow(/longer than the 16 bytes/);
  });

  it('a body destroyed without an error of its own is a short read too', async () => {
    const stream = new PassThrough();
    setImmediate(() => {
      stream.write(Buffer.alloc(4));
      stream.destroy();
    });
    const error = await readBodyExactly(stream, 16, ctx).catch((e: unknown) => e);
    expect((error as Error).message).toBe('Short read from s3://b/k: the body ended at byte 104 of 116');
    expect((error as StorageError).retryable).toBe(true);
  });

  it('a body that breaks passes the stream error on', async () => {
    const reset = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    await expect(readBodyExactly(body([Buffer.alloc(4)], reset), 16, ctx)).rejects.toBe(reset);
  });
});

describe('readBodyExactly over an async iterable (web streams, generators)', () => {
  async function* chunks(parts: Uint8Array[], onReturn?: () => void): AsyncGenerator<Uint8Array> {
    try {
      for (const part of parts) yield part;
    } finally {
      onReturn?.();
    }
  }

  it('copies the chunks into one unpooled buffer of the announced length', async () => {
    const out = await readBodyExactly(chunks([Buffer.from('web '), Buffer.from('stream')]), 10, ctx);
    expect(Buffer.from(out).toString()).toBe('web stream');
    expect(out.buffer.byteLength).toBe(10);
  });

  it('an early end is a retryable short read', async () => {
    const error = await readBodyExactly(chunks([Buffer.alloc(3)]), 8, ctx).catch((e: unknown) => e);
    expect((error as Error).message).toBe('Short read from s3://b/k: the body ended at byte 103 of 108');
    expect((error as StorageError).retryable).toBe(true);
  });

  it('a body longer than announced fails and the body is cancelled', async () => {
    let cancelled = false;
    const error = await readBodyExactly(chunks([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)], () => (cancelled = true)), 6, ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).retryable).toBe(true);
    expect((error as Error).message).toBe('Body of s3://b/k is longer than the 6 bytes announced');
    expect(cancelled).toBe(true);
  });

  it("the body's own error is passed on", async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(2);
      throw new Error('socket gone');
    }
    await expect(readBodyExactly(failing(), 8, ctx)).rejects.toThrow('socket gone');
  });
});

describe('discardBody', () => {
  it('destroys a body whose destruction emits an error (as undici bodies do) without an unhandled error', async () => {
    // Like undici's BodyReadable: destroyed before its end, it fails with an abort error.
    const unfinished = new Readable({
      read() {},
      destroy(error, callback) {
        callback(error ?? new Error('Request aborted'));
      },
    });
    unfinished.push(new Uint8Array(4));
    discardBody(unfinished);
    // The error comes on a later tick: only a listener discardBody left can take it (else vitest
    // reports an unhandled error and the run fails).
    expect(unfinished.listenerCount('error')).toBe(1);
    await new Promise((resolve) => unfinished.once('close', resolve));
    expect(unfinished.destroyed).toBe(true);
  });
});

describe('readErrorDocument', () => {
  /** Like an undici body: never ends on its own, and fails when destroyed unfinished. */
  const endless = (first: string) => {
    const stream = new Readable({
      read() {},
      destroy(error, callback) {
        callback(error ?? new Error('Request aborted'));
      },
    });
    stream.push(Buffer.from(first));
    return stream;
  };

  it('reads a document sent without a length (chunked), counting as it goes', async () => {
    expect(await readErrorDocument(body([Buffer.from('<Error><Code>'), Buffer.from('SlowDown</Code></Error>')]), Number.NaN)).toBe('<Error><Code>SlowDown</Code></Error>');
  });

  it('drops, unread, a body that announces or reaches more than the limit, with no unhandled error', async () => {
    const announced = endless('<Error>');
    expect(await readErrorDocument(announced, 1 << 20)).toBeUndefined();
    expect(announced.destroyed).toBe(true);
    const endlessLong = endless(`<Error>${' '.repeat(70_000)}`);
    expect(await readErrorDocument(endlessLong, Number.NaN)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(endlessLong.destroyed).toBe(true);
    expect(await readErrorDocument(body([Buffer.alloc(10)]), Number.NaN, 5)).toBeUndefined();
  });
});
