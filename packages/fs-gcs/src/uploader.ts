import { createHash, randomUUID } from 'node:crypto';

import {
  AbortError,
  AlreadyExistsError,
  PartWriter,
  StorageError,
  noRetry,
  type AdapterWriter,
  type FsError,
  type PartUploader,
  type RetryPolicy,
  type WriteMode,
} from '@strata/fs-core';

import { sanitizeCause, statusOf, toFsError, type ErrorContext } from './errors.js';
import type { GcsHttp } from './http.js';

/** The JSON API object resource fields the writer looks at. */
export interface ObjectResource {
  name?: string;
  bucket?: string;
  size?: string | number;
  generation?: string | number;
  md5Hash?: string;
  crc32c?: string;
  updated?: string;
  contentType?: string;
}

export interface UploadTarget {
  protocol: string;
  /** `bucket/key`, for messages. */
  path: string;
  bucket: string;
  key: string;
  mode: WriteMode;
}

export interface UploaderHooks {
  /** Current object metadata, or undefined when there is none (recognises our own earlier commit). */
  headObject(signal?: AbortSignal): Promise<ObjectResource | undefined>;
  /** Deletes exactly this generation (cleanup after a failed integrity check); `signal` bounds it. */
  deleteGeneration(generation: string, signal?: AbortSignal): Promise<void>;
}

const CONTENT_TYPE = 'application/octet-stream';

/** A session PUT's answer, body already read: 308 with the persisted range, or the final object. */
interface SessionAnswer {
  status: number;
  range: string | null;
  object?: ObjectResource | undefined;
}

/** The session URI answers 404/410: it expired, was cancelled, or (emulator) was already finalised. */
class SessionGoneError extends StorageError {}
/** Rounds of "server kept fewer bytes than sent" tolerated within one chunk before giving up. */
const MAX_SHORT_WRITES = 8;

/**
 * One GCS upload, spoken over the JSON API: a multipart request for data up to the threshold,
 * otherwise a resumable session fed chunk by chunk. Nothing is visible before the final request.
 */
export class GcsUploader implements PartUploader {
  private sessionUri: string | undefined;
  private confirmedParts = 0;
  private confirmedBytes = 0;
  /** The last session request failed without a clear answer: ask the server how far it got. */
  private uncertain = false;
  private finalObject: ObjectResource | undefined;
  private readonly digest = createHash('md5');
  private digestBase64: string | undefined;
  private cancelled = false;

  constructor(
    private readonly http: GcsHttp,
    private readonly target: UploadTarget,
    private readonly threshold: number,
    private readonly hooks: UploaderHooks,
  ) {}

  private get create(): boolean {
    return this.target.mode === 'create';
  }

  private ctx(extra: Partial<ErrorContext> = {}): ErrorContext {
    return { protocol: this.target.protocol, path: this.target.path, bucket: this.target.bucket, create: this.create, ...extra };
  }

  async putWhole(data: Uint8Array, signal?: AbortSignal, attempt = 1): Promise<void> {
    this.assertUsable();
    if (data.length > this.threshold) {
      // Above the threshold but within one chunk: a resumable session with a single final chunk.
      await this.start(signal);
      if (!this.finalObject) await this.uploadPart(this.confirmedParts + 1, data, true, signal);
      await this.complete(this.confirmedParts, data.length, signal, attempt);
      return;
    }
    const md5 = createHash('md5').update(data).digest('base64');
    const boundary = `strata-${randomUUID()}`;
    // The server checks md5Hash before it creates the object, so a corrupted body never lands.
    const metadata = JSON.stringify({ name: this.target.key, contentType: CONTENT_TYPE, md5Hash: md5 });
    // One contiguous buffer: a body written in pieces can stall on delayed ACKs (~40 ms a request).
    const encoder = new TextEncoder();
    const head = encoder.encode(
      `--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${metadata}\r\n` +
        `--${boundary}\r\nContent-Type: ${CONTENT_TYPE}\r\n\r\n`,
    );
    const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
    const body = new Uint8Array(head.length + data.length + tail.length);
    body.set(head, 0);
    body.set(data, head.length);
    body.set(tail, head.length + data.length);
    const url = this.http.uploadUrl(this.target.bucket, { uploadType: 'multipart', ...this.precondition() });
    try {
      const response = await this.http.send(url, {
        method: 'POST',
        headers: { 'Content-Type': `multipart/related; boundary=${boundary}` },
        body,
        signal,
      });
      this.finalObject = (await response.json()) as ObjectResource;
    } catch (error) {
      if (attempt > 1 && statusOf(error) === 412 && (await this.isOurs(md5, data.length, signal))) return;
      throw toFsError(error, this.ctx({ bucketLevel: statusOf(error) === 404, action: 'upload' }));
    }
  }

  async start(signal?: AbortSignal): Promise<void> {
    this.assertUsable();
    if (this.sessionUri) return;
    const url = this.http.uploadUrl(this.target.bucket, {
      uploadType: 'resumable',
      name: this.target.key,
      ...this.precondition(),
    });
    try {
      const response = await this.http.send(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json; charset=UTF-8', 'X-Upload-Content-Type': CONTENT_TYPE },
        body: JSON.stringify({ name: this.target.key, contentType: CONTENT_TYPE }),
        signal,
      });
      await response.drain();
      const location = response.header('location');
      if (!location || !/^https?:\/\//i.test(location)) {
        throw new StorageError(this.ctx(), `The server opened no resumable session for ${this.where()} (no Location header)`);
      }
      this.sessionUri = location;
    } catch (error) {
      // A missing bucket is the only 404 when opening a session.
      throw toFsError(error, this.ctx({ bucketLevel: statusOf(error) === 404, action: 'start upload' }));
    }
  }

  async uploadPart(partNumber: number, data: Uint8Array, isLast: boolean, signal?: AbortSignal): Promise<void> {
    this.assertUsable();
    this.requireSession();
    if (partNumber !== this.confirmedParts + 1) {
      throw new StorageError(this.ctx(), `Resumable upload chunks must be sent in order (got ${partNumber} after ${this.confirmedParts}): ${this.where()}`);
    }
    const partStart = this.confirmedBytes;
    const partEnd = partStart + data.length;
    let persisted = partStart;
    if (this.uncertain) {
      const status = await this.queryStatus(signal);
      if (status.object) {
        this.finalObject = status.object;
        if (!isLast || Number(status.object.size) !== partEnd) {
          throw new StorageError(this.ctx(), `The resumable session was finalised early: ${this.where()}`);
        }
        this.confirm(data);
        return;
      }
      persisted = status.persisted;
      if (persisted < partStart || persisted > partEnd) {
        throw new StorageError(this.ctx(), `The resumable session lost data (server has ${persisted} bytes, expected ${partStart}-${partEnd}): ${this.where()}`);
      }
      this.uncertain = false;
    }
    for (let round = 0; ; round++) {
      if (round > MAX_SHORT_WRITES) {
        throw new StorageError({ ...this.ctx(), retryable: true }, `The server keeps accepting only part of a chunk: ${this.where()}`);
      }
      const body = data.subarray(persisted - partStart);
      if (body.length === 0 && !isLast) break;
      const range = body.length > 0 ? `bytes ${persisted}-${partEnd - 1}/${isLast ? partEnd : '*'}` : `bytes */${partEnd}`;
      const answer = await this.sessionRequest({ 'Content-Range': range }, body, signal);
      if (answer.status === 308) {
        persisted = persistedFrom(answer.range);
        if (persisted < partStart || persisted > partEnd) {
          throw new StorageError(this.ctx(), `The resumable session lost data (server has ${persisted} bytes): ${this.where()}`);
        }
        continue;
      }
      this.finalObject = answer.object;
      if (!isLast) throw new StorageError(this.ctx(), `The server finalised the upload before the last chunk: ${this.where()}`);
      break;
    }
    this.confirm(data);
  }

  async complete(_partCount: number, totalBytes: number, signal?: AbortSignal, attempt = 1): Promise<void> {
    this.assertUsable();
    if (!this.finalObject) {
      if (this.confirmedBytes !== totalBytes) {
        throw new StorageError(this.ctx(), `Upload is incomplete (${this.confirmedBytes} of ${totalBytes} bytes sent): ${this.where()}`);
      }
      try {
        if (this.uncertain) {
          const status = await this.queryStatus(signal);
          if (status.object) this.finalObject = status.object;
          this.uncertain = false;
        }
        if (!this.finalObject) {
          const answer = await this.sessionRequest({ 'Content-Range': `bytes */${totalBytes}` }, undefined, signal);
          if (answer.status === 308) {
            throw new StorageError({ ...this.ctx(), retryable: true }, `The server did not finalise the upload: ${this.where()}`);
          }
          this.finalObject = answer.object;
        }
      } catch (error) {
        // An earlier try may have finalised unseen; then the object with our bytes is there.
        const recoverable = error instanceof AlreadyExistsError || error instanceof SessionGoneError;
        if (attempt > 1 && recoverable && (await this.isOurs(this.md5(), totalBytes, signal))) return;
        throw error;
      }
    }
    await this.verify(totalBytes);
  }

  /** Cancels the session so nothing becomes visible. Safe to call at any point, more than once. */
  async abort(signal?: AbortSignal): Promise<void> {
    this.cancelled = true;
    const session = this.sessionUri;
    if (!session || this.finalObject) return;
    this.sessionUri = undefined;
    try {
      // GCS answers a cancelled session with 499. `signal` bounds a cancel that stalls.
      const response = await this.http.send(session, { method: 'DELETE', signal }, [499, 404, 410]);
      await response.drain();
    } catch {
      // An unfinalised session never becomes visible and expires on its own within a week.
    }
  }

  private precondition(): Record<string, string> {
    return this.create ? { ifGenerationMatch: '0' } : {};
  }

  /**
   * One PUT to the session, its answer read in full inside the error mapping: a body cut short
   * is a retryable network failure that leaves the session state uncertain, like a lost answer.
   */
  private async sessionRequest(headers: Record<string, string>, body: Uint8Array | undefined, signal?: AbortSignal): Promise<SessionAnswer> {
    const session = this.requireSession();
    try {
      const response = await this.http.send(session, { method: 'PUT', headers, body, signal });
      if (response.status === 308) {
        await response.drain();
        return { status: 308, range: response.header('range') };
      }
      return { status: response.status, range: null, object: (await response.json()) as ObjectResource };
    } catch (error) {
      throw this.sessionError(error);
    }
  }

  /** Asks how many bytes the session holds. Real GCS answers 308 + Range, or the object if final. */
  private async queryStatus(signal?: AbortSignal): Promise<{ persisted: number; object?: ObjectResource }> {
    const answer = await this.sessionRequest({ 'Content-Range': 'bytes */*' }, undefined, signal);
    if (answer.status === 308 || !answer.object) return { persisted: persistedFrom(answer.range) };
    const object = answer.object;
    return { persisted: Number(object.size ?? 0), object };
  }

  private sessionError(error: unknown): FsError {
    const status = statusOf(error);
    if (status === 404 || status === 410) {
      return new SessionGoneError({ ...this.ctx(), cause: sanitizeCause(error) }, `Resumable upload session expired or was cancelled: ${this.where()}`);
    }
    const mapped = toFsError(error, this.ctx({ action: 'upload' }));
    // Without a definite answer the server may hold some of the bytes: resync before resending.
    if (mapped.retryable || status === undefined) this.uncertain = true;
    return mapped;
  }

  private confirm(data: Uint8Array): void {
    this.digest.update(data);
    this.confirmedParts += 1;
    this.confirmedBytes += data.length;
  }

  private md5(): string {
    this.digestBase64 ??= this.digest.digest('base64');
    return this.digestBase64;
  }

  /** The final object must hold exactly our bytes; resumable uploads carry no server-side checksum. */
  private async verify(totalBytes: number): Promise<void> {
    const object = this.finalObject!;
    const size = Number(object.size);
    const md5 = this.md5();
    const sizeOk = object.size === undefined || size === totalBytes;
    const md5Ok = object.md5Hash === undefined || object.md5Hash === md5;
    if (sizeOk && md5Ok) return;
    if (object.generation !== undefined) {
      // Bounded like any cleanup: a stalled delete must not hang the commit that reports the mismatch.
      await this.hooks.deleteGeneration(String(object.generation), AbortSignal.timeout(PartWriter.cleanupTimeoutMs)).catch(() => undefined);
    }
    throw new StorageError(
      this.ctx(),
      `Uploaded object does not match the bytes written (size ${size} vs ${totalBytes}, md5 ${md5Ok ? 'ok' : 'differs'}); it was removed: ${this.where()}`,
    );
  }

  private async isOurs(md5: string, size: number, signal?: AbortSignal): Promise<boolean> {
    const object = await this.hooks.headObject(signal);
    if (!object || Number(object.size) !== size || object.md5Hash !== md5) return false;
    this.finalObject = object;
    return true;
  }

  private requireSession(): string {
    if (!this.sessionUri) throw new StorageError(this.ctx(), `No resumable session is open for ${this.where()}`);
    return this.sessionUri;
  }

  private assertUsable(): void {
    if (this.cancelled) throw new AbortError(this.ctx(), `Upload was aborted: ${this.where()}`);
  }

  private where(): string {
    return `${this.target.protocol}://${this.target.path}`;
  }
}

/** `Range: bytes=0-N` → N + 1 bytes persisted; no header → none. */
function persistedFrom(range: string | null): number {
  const match = range ? /bytes=(\d+)-(\d+)/.exec(range) : null;
  return match ? Number(match[2]) + 1 : 0;
}

export interface GcsWriterOptions {
  chunkSize: number;
  threshold: number;
  retry?: RetryPolicy | undefined;
}

/**
 * The AdapterWriter for one object. It holds up to max(threshold, chunkSize) bytes; if the caller
 * commits by then, one request uploads them (multipart up to the threshold, else a one-chunk
 * resumable session). Past that it streams resumable chunks through fs-core's PartWriter, one
 * chunk in flight since GCS takes chunks in order. Memory: the held bytes, then about 2 × chunkSize.
 */
export class GcsWriter implements AdapterWriter {
  /** Small writes copied into one buffer (the caller may reuse its own): flat time and memory per write. */
  private held: Uint8Array | undefined;
  private heldBytes = 0;
  private parts: PartWriter | undefined;
  private readonly retry: RetryPolicy;
  /** Bytes held back for a single upload at commit before switching to a resumable session. */
  private readonly holdLimit: number;

  constructor(
    private readonly uploader: GcsUploader,
    private readonly options: GcsWriterOptions,
  ) {
    this.retry = options.retry ?? noRetry;
    // Small objects never touch PartWriter, which would allocate a whole chunk for them.
    this.holdLimit = Math.max(options.threshold, options.chunkSize);
  }

  async write(chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.parts) return this.parts.write(chunk, signal);
    const needed = this.heldBytes + chunk.length;
    if (needed <= this.holdLimit) {
      this.reserve(needed).set(chunk, this.heldBytes);
      this.heldBytes = needed;
      return;
    }
    const parts = new PartWriter(this.uploader, { partSize: this.options.chunkSize, concurrency: 1, retry: this.retry });
    this.parts = parts;
    const held = this.takeHeld();
    // PartWriter copies what it is given, so the held buffer can go once this write returns.
    if (held.length > 0) await parts.write(held, signal);
    await parts.write(chunk, signal);
  }

  async commit(signal?: AbortSignal): Promise<void> {
    if (this.parts) return this.parts.commit(signal);
    const data = this.takeHeld();
    await this.retry.run((s, attempt) => this.uploader.putWhole(data, s, attempt), signal);
  }

  /** Cancels the session within PartWriter's cleanup bound, so it never hangs. */
  async abort(): Promise<void> {
    this.takeHeld();
    try {
      await this.parts?.abort();
    } finally {
      // A session opened outside PartWriter (one-chunk resumable upload) is cancelled here.
      await this.uploader.abort(AbortSignal.timeout(PartWriter.cleanupTimeoutMs));
    }
  }

  /** The held buffer with room for `needed` bytes; doubling keeps the copying linear, capped at the hold limit. */
  private reserve(needed: number): Uint8Array {
    if (this.held && this.held.length >= needed) return this.held;
    const capacity = Math.min(this.holdLimit, Math.max(needed, 2 * (this.held?.length ?? 0), 4 * 1024));
    const grown = new Uint8Array(capacity);
    if (this.held) grown.set(this.held.subarray(0, this.heldBytes));
    this.held = grown;
    return grown;
  }

  private takeHeld(): Uint8Array {
    const data = this.held?.subarray(0, this.heldBytes) ?? new Uint8Array(0);
    this.held = undefined;
    this.heldBytes = 0;
    return data;
  }
}
