import type { AdapterWriter } from './types.js';
import { noRetry, type RetryPolicy } from './retry.js';

/**
 * The backend side of a chunked upload (S3 multipart, Azure staged blocks, GCS resumable).
 * `PartWriter` drives it; the backend only speaks its wire protocol.
 */
export interface PartUploader {
  /**
   * Parts may arrive in any order (S3 multipart, Azure staged blocks; not GCS resumable sessions):
   * the writer then holds part 1 back until commit, so the first `partSize` bytes can be patched.
   */
  readonly partsInAnyOrder?: boolean;
  /** Whole object in one request: used when everything fits in one part. */
  putWhole(data: Uint8Array, signal?: AbortSignal, attempt?: number): Promise<void>;
  /** Opens the upload (CreateMultipartUpload, resumable session...), before the first part. */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Sends part `partNumber` (1-based). Parts of one upload may run concurrently up to
   * `concurrency`; every part but the last is exactly `partSize` bytes. `data` is reused for a
   * later part once the returned promise settles: copy it if you must keep it.
   */
  uploadPart(partNumber: number, data: Uint8Array, isLast: boolean, signal?: AbortSignal): Promise<void>;
  /**
   * Makes the object visible. `totalBytes` helps protocols that must state the final size.
   * `attempt` > 1 means an earlier try may have succeeded unseen: a create-only upload must then
   * recognise its own object (ETag, generation) instead of reporting AlreadyExists.
   */
  complete(partCount: number, totalBytes: number, signal?: AbortSignal, attempt?: number): Promise<void>;
  /**
   * Discards everything uploaded so far. Must be safe to call after a failed start. `signal` bounds
   * the cleanup: pass it to every request, since the caller's own signal may have fired already.
   */
  abort(signal?: AbortSignal): Promise<void>;
}

export interface PartWriterOptions {
  partSize: number;
  /** Parts in flight at once. Memory is about partSize × (concurrency + 1), one more part if part 1 is held. */
  concurrency: number;
  /** Retries start, parts, whole-body PUTs and the commit (default: no retries). */
  retry?: RetryPolicy | undefined;
  /** Limit for the cleanup in abort(), retries included (default PartWriter.cleanupTimeoutMs). */
  cleanupTimeoutMs?: number | undefined;
}

/** Buffers writes into fixed-size parts and streams them out with bounded memory. */
export class PartWriter implements AdapterWriter {
  /**
   * Default bound on abort()'s cleanup. Cleanup may run after the caller's signal fired, so it has
   * a signal of its own: without one a stalled cleanup request would hold abort() forever.
   */
  static readonly cleanupTimeoutMs = 15_000;
  private part: Uint8Array | undefined;
  private filled = 0;
  private partCount = 0;
  private total = 0;
  private started = false;
  private readonly inflight = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  private readonly retry: RetryPolicy;
  /** Part buffers whose upload finished, reused so memory stays at partSize × (concurrency + 1). */
  private readonly spare: Uint8Array[] = [];
  /** Part 1, full and held back until commit (uploaders whose parts go in any order). */
  private held: Uint8Array | undefined;
  /** Fired by abort(): parts still in flight would only be thrown away, so they stop at once. */
  private readonly cancel = new AbortController();
  /** Present where part 1 is held back: the first `partSize` bytes stay changeable until commit. */
  readonly patch?: (position: number, chunk: Uint8Array) => Promise<void>;
  readonly patchableBytes?: number;

  constructor(
    private readonly uploader: PartUploader,
    private readonly options: PartWriterOptions,
  ) {
    if (!(options.partSize > 0) || !(options.concurrency >= 1)) throw new RangeError('partSize and concurrency must be positive');
    this.retry = options.retry ?? noRetry;
    if (uploader.partsInAnyOrder) {
      this.patchableBytes = options.partSize;
      this.patch = async (position, chunk) => this.patchFirstPart(position, chunk);
    }
  }

  async write(chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.rethrow();
    const { partSize } = this.options;
    let offset = 0;
    while (offset < chunk.length) {
      // Copy: the caller may reuse its buffer once write() resolves.
      const take = Math.min(partSize - this.filled, chunk.length - offset);
      this.ensureCapacity(this.filled + take);
      this.part!.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      this.total += take;
      if (this.filled === partSize) await this.sendPart(false, signal);
    }
  }

  async commit(signal?: AbortSignal): Promise<void> {
    this.rethrow();
    if (!this.started) {
      const body = this.part ? this.part.subarray(0, this.filled) : new Uint8Array(0);
      await this.retry.run((s, attempt) => this.uploader.putWhole(body, s, attempt), signal);
      this.part = undefined;
      return;
    }
    if (this.filled > 0) await this.sendPart(true, signal);
    if (this.held) {
      const held = this.held;
      this.held = undefined;
      await this.upload(1, held, false, signal);
    }
    await this.drain();
    this.rethrow();
    await this.retry.run((s, attempt) => this.uploader.complete(this.partCount, this.total, s, attempt), signal);
  }

  /** Stops parts in flight and discards the upload, within `cleanupTimeoutMs` (so it never hangs). */
  async abort(): Promise<void> {
    this.part = undefined;
    this.held = undefined;
    this.spare.length = 0;
    this.cancel.abort();
    await this.drain();
    if (this.started) await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    const bound = AbortSignal.timeout(this.options.cleanupTimeoutMs ?? PartWriter.cleanupTimeoutMs);
    try {
      // A failed cleanup would leave an in-progress upload (and its storage) behind: retry it too.
      await this.retry.run((s) => this.uploader.abort(s), bound);
    } catch (error) {
      // Out of time: what is left is invisible, and the service expires it (GCS sessions, Azure
      // blocks) or a lifecycle rule does (S3 multipart uploads). abort() must not hang for it.
      if (!bound.aborted) throw error;
    }
  }

  /** The handle has checked that the bytes are written and within patchableBytes, so within part 1. */
  private patchFirstPart(position: number, chunk: Uint8Array): void {
    const first = this.held ?? (this.partCount === 0 ? this.part : undefined);
    if (!first || position + chunk.length > (this.held ? this.held.length : this.filled)) {
      throw new RangeError(`patch(${position}, ${chunk.length} bytes) reaches past the first part`);
    }
    first.set(chunk, position);
  }

  private async sendPart(isLast: boolean, signal?: AbortSignal): Promise<void> {
    if (!this.started) {
      await this.retry.run((s) => this.uploader.start(s), signal);
      this.started = true;
    }
    const buffer = this.part!;
    const data = buffer.subarray(0, this.filled);
    this.part = undefined;
    this.filled = 0;
    const partNumber = ++this.partCount;
    if (partNumber === 1 && this.patch) {
      this.held = data; // uploaded at commit, after the last patch
      return;
    }
    await this.upload(partNumber, data, isLast, signal);
  }

  /** Starts one part's upload, then waits while `concurrency` parts are in flight. */
  private async upload(partNumber: number, data: Uint8Array, isLast: boolean, signal?: AbortSignal): Promise<void> {
    const partSignal = signal ? AbortSignal.any([signal, this.cancel.signal]) : this.cancel.signal;
    const task: Promise<void> = this.retry
      .run((s) => this.uploader.uploadPart(partNumber, data, isLast, s), partSignal)
      .then(
        () => {
          if (data.length === this.options.partSize && this.spare.length < this.options.concurrency) this.spare.push(data);
        },
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(() => this.inflight.delete(task));
    this.inflight.add(task);
    while (this.inflight.size >= this.options.concurrency) await Promise.race(this.inflight);
    this.rethrow();
  }

  /** Small objects never pay for a whole part: the first buffer grows geometrically up to partSize. */
  private ensureCapacity(needed: number): void {
    const { partSize } = this.options;
    if (!this.part) {
      this.part = this.spare.pop() ?? new Uint8Array(Math.min(partSize, Math.max(needed, 4 * 1024)));
    }
    if (this.part.length >= needed) return;
    const grown = new Uint8Array(Math.min(partSize, Math.max(needed, this.part.length * 2)));
    grown.set(this.part.subarray(0, this.filled));
    this.part = grown;
  }

  private async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.race(this.inflight);
  }

  private rethrow(): void {
    if (this.failure) throw this.failure.error;
  }
}
