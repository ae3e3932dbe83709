import { types } from 'node:util';

import { InvalidPathError, StorageError } from './errors.js';
import type { RetryPolicy } from './retry.js';
import { shortReadError } from './body.js';
import type { AdapterWriter, FileInfo, ReadHandle, StorageAdapter, WriteData, WriteHandle, WriteMode } from './types.js';

const encoder = new TextEncoder();

/**
 * The bytes of `data`: UTF-8 for a string, the viewed bytes of any ArrayBuffer view (Buffer,
 * DataView, other typed arrays), the whole of an ArrayBuffer. Anything else is a TypeError, thrown
 * before a byte is written: read as a view it would have been an empty file over the old one.
 */
export function toBytes(data: WriteData): Uint8Array {
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  // isView and isAnyArrayBuffer also recognise buffers made in another realm (vm, workers).
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (types.isAnyArrayBuffer(data)) return new Uint8Array(data);
  const what = data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data === 'object' ? `a ${(data as object).constructor?.name ?? 'plain'} object` : typeof data;
  throw new TypeError(`Data to write must be a string, an ArrayBuffer or an ArrayBuffer view (Uint8Array, Buffer, DataView, ...), got ${what}`);
}

type Guard = <T>(fn: () => Promise<T>) => Promise<T>;

/** Reads through a block cache with range requests pinned to the version seen at open. */
export class BlockReadHandle implements ReadHandle {
  private position = 0;
  private block: { start: number; data: Uint8Array } | undefined;
  private closed = false;

  constructor(
    private readonly adapter: StorageAdapter,
    readonly info: FileInfo,
    private readonly blockSize: number,
    private readonly retry: RetryPolicy,
    private readonly guard: Guard,
    private readonly signal: AbortSignal | undefined,
  ) {}

  get path(): string {
    return this.info.name;
  }
  get size(): number {
    return this.info.size;
  }

  tell(): number {
    return this.position;
  }

  seek(position: number, whence: 0 | 1 | 2 = 0): number {
    // Python's io: 0 from the start, 1 from the current position, 2 from the end; nothing else.
    if (whence !== 0 && whence !== 1 && whence !== 2) {
      throw this.badArgument(`seek whence must be 0 (start), 1 (current) or 2 (end), got ${String(whence)}`);
    }
    if (!Number.isSafeInteger(position)) throw this.badArgument(`seek position must be an integer, got ${String(position)}`);
    const base = whence === 0 ? 0 : whence === 1 ? this.position : this.size;
    const target = base + position;
    if (target < 0) {
      throw new InvalidPathError({ path: this.path, protocol: this.adapter.protocol }, `Cannot seek to ${target} in ${this.path}`);
    }
    this.position = target;
    return target;
  }

  async read(n?: number | null): Promise<Uint8Array> {
    this.assertOpen();
    // A fractional count would ask the backend for a fractional range.
    if (n !== undefined && n !== null && !Number.isSafeInteger(n)) throw this.badArgument(`read size must be an integer, got ${String(n)}`);
    const remaining = this.size - this.position;
    if (remaining <= 0) return new Uint8Array(0);
    const want = n === undefined || n === null || n < 0 ? remaining : Math.min(n, remaining);
    const start = this.position;
    // The bytes are claimed at the call (the size is pinned at open): reads not awaited get
    // consecutive bytes, in call order, and a seek made meanwhile comes after this read.
    this.position = start + want;
    try {
      return await this.readAt(start, want);
    } catch (error) {
      if (this.position === start + want) this.position = start;
      throw error;
    }
  }

  private async readAt(start: number, want: number): Promise<Uint8Array> {
    if (want >= this.blockSize) return this.fetch(start, start + want);
    // A local reference: a read running beside this one may replace the cached block meanwhile.
    let block = this.block;
    if (!block || start < block.start || start + want > block.start + block.data.length) {
      block = { start, data: await this.fetch(start, Math.min(this.size, start + this.blockSize)) };
      this.block = block;
    }
    const offset = start - block.start;
    return block.data.subarray(offset, offset + want);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = await this.read(this.blockSize);
      if (chunk.length === 0) return;
      yield chunk;
    }
  }

  stream(): ReadableStream<Uint8Array> {
    this.assertOpen();
    const start = this.position;
    const source: AsyncIterable<Uint8Array> =
      this.adapter.readStream && this.size - start > this.blockSize ? this.resumableStream(start) : this;
    const iterator = source[Symbol.asyncIterator]();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const next = await this.guard(() => iterator.next());
        if (next.done) controller.close();
        else {
          if (source !== this) this.position += next.value.length;
          controller.enqueue(next.value);
        }
      },
      cancel: async () => {
        await iterator.return?.();
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.block = undefined;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * The backend's stream from `start` to the end, pinned to the opened version. A broken or short
   * body resumes where the delivered bytes end, under the retry policy, so callers never see a gap.
   */
  private async *resumableStream(start: number): AsyncGenerator<Uint8Array> {
    let position = start;
    for (let attempt = 1; position < this.size; attempt++) {
      try {
        const chunks = this.adapter.readStream!(this.path, position, this.size, { signal: this.signal, etag: this.info.etag });
        for await (const chunk of chunks) {
          position += chunk.length;
          yield chunk;
        }
        if (position < this.size) throw this.shortRead(position, this.size);
        return;
      } catch (error) {
        await this.retry.pause(error, attempt, this.signal);
      }
    }
  }

  private badArgument(message: string): InvalidPathError {
    return new InvalidPathError({ path: this.path, protocol: this.adapter.protocol }, `${message}: ${this.adapter.protocol}://${this.path}`);
  }

  private shortRead(got: number, expected: number): StorageError {
    return shortReadError({ path: this.path, protocol: this.adapter.protocol }, got, expected);
  }

  private fetch(start: number, end: number): Promise<Uint8Array> {
    return this.guard(() =>
      this.retry.run(async (signal) => {
        const data = await this.adapter.read(this.path, start, end, { signal, etag: this.info.etag });
        // The size is pinned with the version, so anything shorter is a cut-off body, not the end.
        if (data.length !== end - start) throw this.shortRead(start + data.length, end);
        return data;
      }, this.signal),
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError({ path: this.path, protocol: this.adapter.protocol }, `Read handle is closed: ${this.path}`);
  }
}

type WriteState = 'open' | 'committing' | 'committed' | 'aborted' | 'failed';

/** Enforces the atomic-write contract over a backend writer: commit is the only way in. */
export class AtomicWriteHandle implements WriteHandle {
  private state: WriteState = 'open';
  /** The cleanup a failed write or commit started; abort() waits for it. */
  private failureCleanup: Promise<void> | undefined;
  private written = 0;
  private pending: Promise<void> = Promise.resolve();
  readonly patch?: (position: number, chunk: Uint8Array) => Promise<void>;
  readonly patchableBytes?: number;

  constructor(
    readonly path: string,
    readonly mode: WriteMode,
    private readonly protocol: string,
    private readonly writer: AdapterWriter,
    private readonly guard: Guard,
    private readonly signal: AbortSignal | undefined,
    /** Maps errors like `guard` but still runs once the signal has fired: cleanup must happen then too. */
    private readonly cleanupGuard: Guard = guard,
  ) {
    // Only handles that can patch say so: callers test for the method.
    if (writer.patch) {
      this.patchableBytes = writer.patchableBytes ?? Infinity;
      this.patch = (position, chunk) => this.patchWritten(writer.patch!.bind(writer), position, chunk);
    }
  }

  get bytesWritten(): number {
    return this.written;
  }

  /**
   * Runs `step` after every step queued before it, so callers that do not await each write still
   * get bytes, patches and the commit in the order they asked for them.
   */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.pending.then(step);
    this.pending = run.catch(() => undefined);
    return run;
  }

  write(chunk: WriteData): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = toBytes(chunk);
    } catch (error) {
      return Promise.reject(error); // a rejection like every other failure, and the handle stays usable
    }
    return this.enqueue(async () => {
      this.assertOpen('write to');
      if (bytes.length === 0) return;
      await this.failOnError(() => this.writer.write(bytes, this.signal));
      this.written += bytes.length;
    });
  }

  private patchWritten(patch: NonNullable<AdapterWriter['patch']>, position: number, chunk: Uint8Array): Promise<void> {
    return this.enqueue(async () => {
      this.assertOpen('patch');
      if (!Number.isSafeInteger(position) || position < 0 || position + chunk.length > this.written) {
        throw new RangeError(`patch(${position}, ${chunk.length} bytes) reaches past the ${this.written} bytes written to ${this.protocol}://${this.path}`);
      }
      if (position + chunk.length > this.patchableBytes!) {
        throw new RangeError(`patch(${position}, ${chunk.length} bytes) reaches past the first ${this.patchableBytes} bytes, all that stay changeable in ${this.protocol}://${this.path}`);
      }
      if (chunk.length > 0) await this.failOnError(() => patch(position, chunk, this.signal));
    });
  }

  commit(): Promise<void> {
    // Queued like a write: a write issued after commit() must fail, not slip into the object.
    return this.enqueue(async () => {
      this.assertOpen('commit');
      this.state = 'committing';
      await this.failOnError(() => this.writer.commit(this.signal));
      this.state = 'committed';
    });
  }

  async abort(): Promise<void> {
    await this.pending;
    if (this.state === 'committed' || this.state === 'aborted') return;
    const wasFailed = this.state === 'failed';
    this.state = 'aborted';
    // After a failure the cleanup is under way already (perhaps not awaited): wait for it, bounded.
    if (wasFailed) await this.failureCleanup;
    else await this.cleanupGuard(() => this.writer.abort());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.abort();
  }

  private async failOnError(fn: () => Promise<void>): Promise<void> {
    try {
      await this.guard(fn);
    } catch (error) {
      this.state = 'failed';
      // Leave nothing behind on the server; the original error is what the caller needs. A caller
      // whose signal fired gets it at once; the (bounded) cleanup runs on, and abort() waits for it.
      this.failureCleanup = this.writer.abort().catch(() => undefined);
      if (!this.signal?.aborted) await this.failureCleanup;
      throw error;
    }
  }

  private assertOpen(action: string): void {
    if (this.state !== 'open') {
      throw new StorageError(
        { path: this.path, protocol: this.protocol },
        `Cannot ${action} ${this.protocol}://${this.path}: the write handle is ${this.state}`,
      );
    }
  }
}
