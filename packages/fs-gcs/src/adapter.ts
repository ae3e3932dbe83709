import { CRC32C, type Storage } from '@google-cloud/storage';
import {
  AbortError,
  AlreadyExistsError,
  InvalidPathError,
  NotFoundError,
  NotSupportedError,
  StorageError,
  directoryMarker,
  readBodyExactly,
  splitBucketPath,
  type AdapterListOptions,
  type AdapterReadOptions,
  type AdapterWriteOptions,
  type AdapterWriter,
  type CallOptions,
  type Capabilities,
  type FileInfo,
  type MkdirOptions,
  type SignOptions,
  type StorageAdapter,
  type WriteMode,
} from '@strata/fs-core';

import { GcsCredentialsError, sanitizeCause, statusOf, toFsError, type ErrorContext } from './errors.js';
import { GcsHttp, objectPath, type HttpAnswer } from './http.js';
import { DEFAULT_CHUNK_SIZE, createStorage, validateChunkSize, type GcsOptions } from './options.js';
import { GcsUploader, GcsWriter, type ObjectResource } from './uploader.js';

export const GCS_PROTOCOLS = ['gs', 'gcs'] as const;
export type GcsProtocol = (typeof GCS_PROTOCOLS)[number];

/** V4 signed URLs live at most seven days. */
const MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600;
const LIST_FIELDS = 'items(name,size,updated,generation,contentType,md5Hash,crc32c),prefixes,nextPageToken';

/**
 * Google Cloud Storage behind fs-core's StorageAdapter. Every request speaks the JSON API over our
 * own HTTP client (http.ts), so it can be cancelled, a body cut short is an error, and close()
 * releases every socket. @google-cloud/storage only supplies credentials and signs URLs.
 */
export class GcsAdapter implements StorageAdapter {
  readonly protocol: GcsProtocol;
  /** The other spelling, accepted in URLs (`gcs://` on a `gs` filesystem and vice versa). */
  readonly aliases: string[];
  readonly capabilities: Capabilities;
  readonly storage: Storage;
  private readonly http: GcsHttp;
  private readonly chunkSize: number;
  private readonly threshold: number;
  private readonly pageSize: number;
  private readonly removeConcurrency: number;

  constructor(options: GcsOptions = {}, protocol: string = 'gs') {
    if (!(GCS_PROTOCOLS as readonly string[]).includes(protocol)) {
      throw new InvalidPathError({ protocol }, `@strata/fs-gcs handles gs:// and gcs://, not ${protocol}://`);
    }
    this.protocol = protocol as GcsProtocol;
    this.aliases = GCS_PROTOCOLS.filter((p) => p !== protocol);
    this.chunkSize = validateChunkSize(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    this.threshold = options.resumableThreshold ?? this.chunkSize;
    if (!(this.threshold >= 0)) throw new RangeError(`resumableThreshold must be >= 0, got ${options.resumableThreshold}`);
    this.pageSize = Math.max(1, Math.min(1000, Math.floor(options.listPageSize ?? 1000)));
    this.removeConcurrency = Math.max(1, Math.floor(options.removeConcurrency ?? 8));
    this.storage = createStorage(options);
    this.http = new GcsHttp(this.storage, options.fetch);
    this.capabilities = {
      atomicCommit: true,
      conditionalCreate: true,
      rangeRead: true,
      emptyDirectories: false,
      sign: this.canSign(options),
      serverSideCopy: true,
      // GCS's atomic objects.move is not in fake-gcs-server and not on every bucket: mv is copy + delete.
      atomicMove: false,
    };
  }

  /* ------------------------------ metadata ------------------------------ */

  async head(path: string, options: CallOptions): Promise<FileInfo> {
    const { bucket, key } = this.split(path);
    if (!key) {
      try {
        await this.getBucket(bucket, options.signal);
      } catch (error) {
        throw toFsError(error, this.ctx(path, bucket, { bucketLevel: true }));
      }
      return { name: bucket, type: 'directory', size: 0 };
    }
    // A miss may still be a directory: fs-core lists the prefix, which shows keys below and a `key/` marker.
    try {
      return this.toInfo(path, await this.getObject(bucket, key, options.signal));
    } catch (error) {
      throw toFsError(error, this.ctx(path, bucket));
    }
  }

  async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    const { bucket, key } = this.split(path);
    const prefix = key ? `${key}/` : '';
    const seenPrefixes = new Set<string>();
    let pageToken: string | undefined;
    do {
      if (options.signal?.aborted) throw new AbortError({ path, protocol: this.protocol, cause: options.signal.reason });
      let items: ObjectResource[];
      let prefixes: string[];
      try {
        const query: Record<string, string> = { maxResults: String(this.pageSize), fields: LIST_FIELDS };
        if (prefix) query['prefix'] = prefix;
        if (!options.recursive) query['delimiter'] = '/';
        if (pageToken) query['pageToken'] = pageToken;
        const page = await this.http.json<{ items?: ObjectResource[]; prefixes?: string[]; nextPageToken?: string }>(
          this.http.apiUrl(`/b/${encodeURIComponent(bucket)}/o`, query),
          { method: 'GET', signal: options.signal },
        );
        items = page.items ?? [];
        prefixes = page.prefixes ?? [];
        pageToken = page.nextPageToken || undefined;
      } catch (error) {
        throw toFsError(error, this.ctx(path, bucket, { bucketLevel: true, action: 'list' }));
      }
      // Names as stored: fs-core drops the ones no normalised path reaches (`a//b` lists `a/` here).
      for (const item of items) {
        const name = `${bucket}/${item.name ?? ''}`;
        yield name.endsWith('/') ? directoryMarker(name, item.updated ? new Date(item.updated) : undefined) : this.toInfo(name, item);
      }
      for (const p of prefixes) {
        // fake-gcs-server repeats every prefix on every page; real GCS pages them.
        if (seenPrefixes.has(p)) continue;
        seenPrefixes.add(p);
        yield { name: `${bucket}/${p.slice(0, -1)}`, type: 'directory', size: 0 };
      }
    } while (pageToken);
  }

  /* ------------------------------ reads ------------------------------ */

  async read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array> {
    if (end !== undefined && end <= start) return new Uint8Array(0);
    const download = await this.download(path, start, end, options);
    if (!download) return new Uint8Array(0);
    const { length, exactBody, chunks, ctx } = download;
    try {
      // Length known: copied into one buffer as chunks arrive, so a load peaks at 1x, not 2x, its size.
      if (exactBody) {
        const bytes = await readBodyExactly(exactBody.body, exactBody.length, { protocol: this.protocol, path, start });
        if (exactBody.crc32c !== undefined) checkCrc32c(bytes, exactBody.crc32c, this.protocol, path);
        return bytes;
      }
      if (length !== undefined) return await readBodyExactly(chunks, length, { protocol: this.protocol, path, start });
      const parts: Uint8Array[] = [];
      for await (const chunk of chunks) parts.push(chunk);
      return Buffer.concat(parts);
    } catch (error) {
      throw toFsError(error, ctx);
    }
  }

  async *readStream(path: string, start: number, end: number | undefined, options: AdapterReadOptions): AsyncIterable<Uint8Array> {
    if (end !== undefined && end <= start) return;
    const download = await this.download(path, start, end, options);
    if (download) yield* download.chunks;
  }

  /**
   * Starts a download of [start, end): the bytes it will yield (`length`, when the response says)
   * and the chunks, checked against Content-Length and (whole objects) CRC32C. When the body is
   * exactly the wanted bytes (nothing to skip or cut), it is also offered raw as `exactBody`, with
   * the CRC32C its bytes must have, for a reader that checks both itself: reading it through
   * 'data' events costs far less per small object than the chunk generator. `ctx` maps errors.
   * Undefined when `start` is at or past the end.
   */
  private async download(
    path: string,
    start: number,
    end: number | undefined,
    options: AdapterReadOptions,
  ): Promise<
    | {
        length: number | undefined;
        exactBody: { body: HttpAnswer['body']; length: number; crc32c: string | undefined } | undefined;
        chunks: AsyncGenerator<Uint8Array>;
        ctx: ErrorContext;
      }
    | undefined
  > {
    const { bucket, key } = this.split(path);
    const ctx = this.ctx(path, bucket, { pinned: options.etag !== undefined, action: 'read' });
    if (options.signal?.aborted) throw new AbortError({ path, protocol: this.protocol, cause: options.signal.reason });
    const whole = start === 0 && end === undefined;
    let answer: HttpAnswer;
    try {
      answer = await this.http.send(
        this.http.objectUrl(bucket, key, { alt: 'media', ...this.pin(options.etag) }),
        { method: 'GET', headers: whole ? {} : { Range: `bytes=${start}-${end !== undefined ? end - 1 : ''}` }, signal: options.signal },
        [416],
      );
    } catch (error) {
      throw toFsError(error, ctx);
    }
    if (answer.status === 416) {
      await answer.cancel().catch(() => undefined);
      return undefined; // start at or past the end: nothing to read
    }
    // A server that ignores Range answers 200 with the whole object: skip to `start` ourselves.
    const ranged = answer.status === 206;
    const skipBytes = ranged ? 0 : start;
    const wanted = end === undefined ? Infinity : end - start;
    const expected = this.expectedBodyLength(answer);
    const length = expected === undefined ? undefined : Math.min(wanted, Math.max(0, expected - skipBytes));
    const crc = whole && answer.status === 200 && servedAsStored(answer) ? crc32cOf(answer.header('x-goog-hash')) : undefined;
    const protocol = this.protocol;
    const body = answer.body;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      const checksum = crc !== undefined ? new CRC32C() : undefined;
      const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
      let skip = skipBytes;
      let remaining = wanted;
      let received = 0;
      let ended = false;
      try {
        while (remaining > 0) {
          let chunk: Uint8Array;
          try {
            const next = await iterator.next();
            if (next.done) {
              ended = true;
              break;
            }
            chunk = next.value;
          } catch (error) {
            throw toFsError(error, ctx);
          }
          received += chunk.length;
          checksum?.update(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if (skip > 0) {
            const dropped = Math.min(skip, chunk.length);
            skip -= dropped;
            chunk = chunk.subarray(dropped);
          }
          if (chunk.length > remaining) chunk = chunk.subarray(0, remaining);
          remaining -= chunk.length;
          if (chunk.length > 0) yield chunk;
        }
      } finally {
        // Stopping early (enough bytes, an error, a consumer that left) closes the body.
        if (!ended) await iterator.return?.()?.catch(() => undefined);
      }
      // A body that ends early (connection closed before Content-Length) must never pass as the data.
      if (ended && expected !== undefined && received !== expected) {
        throw new StorageError(
          { path, protocol, retryable: true },
          `Download ended early: received ${received} of ${expected} bytes: ${protocol}://${path}`,
        );
      }
      if (ended && checksum && crc !== undefined && !checksum.validate(crc)) throw crcMismatch(protocol, path);
    }
    const exactBody = skipBytes === 0 && length !== undefined && length === expected ? { body, length, crc32c: crc } : undefined;
    return { length, exactBody, chunks: chunks(), ctx };
  }

  /**
   * A pinned read names the generation (so the bytes are exactly that version's) and sets
   * ifGenerationMatch (so real GCS answers 412 once the live object moved on, even in a
   * versioned bucket where the old generation is still readable).
   */
  private pin(generation: string | undefined): Record<string, string> {
    return generation === undefined ? {} : { generation, ifGenerationMatch: generation };
  }

  /**
   * Body bytes the server announced. A compressed body is decoded (objects uploaded gzipped by
   * other tools), and then Content-Length counts the encoded bytes, so there is nothing to compare.
   */
  private expectedBodyLength(answer: HttpAnswer): number | undefined {
    const encoding = answer.header('content-encoding');
    if (encoding && encoding.toLowerCase() !== 'identity') return undefined;
    const length = answer.header('content-length');
    if (length !== null && /^\d+$/.test(length)) return Number(length);
    const range = /^bytes (\d+)-(\d+)\//.exec(answer.header('content-range') ?? '');
    return range ? Number(range[2]) - Number(range[1]) + 1 : undefined;
  }

  /* ------------------------------ writes ------------------------------ */

  async createWriter(path: string, mode: WriteMode, options: AdapterWriteOptions): Promise<AdapterWriter> {
    const { bucket, key } = this.split(path);
    if (!key) throw new InvalidPathError({ path, protocol: this.protocol }, `Cannot write an object at a bucket root: ${this.protocol}://${path}`);
    const uploader = new GcsUploader(this.http, { protocol: this.protocol, path, bucket, key, mode }, this.threshold, {
      headObject: async (signal) => {
        try {
          return await this.getObject(bucket, key, signal);
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw toFsError(error, this.ctx(path, bucket));
        }
      },
      deleteGeneration: async (generation, signal) => {
        await this.http.call(this.http.objectUrl(bucket, key, { generation, ifGenerationMatch: generation }), { method: 'DELETE', signal });
      },
    });
    return new GcsWriter(uploader, { chunkSize: this.chunkSize, threshold: this.threshold, retry: options.retry });
  }

  async remove(path: string, options: CallOptions): Promise<void> {
    const { bucket, key } = this.split(path);
    if (!key) throw new InvalidPathError({ path, protocol: this.protocol }, `A bucket is not a file: ${this.protocol}://${path}`);
    try {
      await this.http.call(this.http.objectUrl(bucket, key), { method: 'DELETE', signal: options.signal });
    } catch (error) {
      throw toFsError(error, this.ctx(path, bucket, { action: 'delete' }));
    }
  }

  /** Deletes with bounded parallelism; objects already gone count as deleted. */
  async removeMany(paths: string[], options: CallOptions): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined; // boxed: a thrown value can be anything, even undefined
    const worker = async () => {
      while (failure === undefined && next < paths.length) {
        const path = paths[next++]!;
        try {
          await this.remove(path, options);
        } catch (error) {
          if (!(error instanceof NotFoundError) || /Bucket not found/.test(error.message)) failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.removeConcurrency, paths.length) }, worker));
    if (failure) throw failure.error;
  }

  /** Server-side copy (objects.rewrite, continued until done for large or cross-location objects). */
  async copyFile(src: string, dst: string, options: CallOptions): Promise<void> {
    const from = this.split(src);
    const to = this.split(dst);
    if (!from.key || !to.key) throw new InvalidPathError({ path: from.key ? dst : src, protocol: this.protocol }, `Cannot copy to or from a bucket root`);
    const path = `${objectPath(from.bucket, from.key)}/rewriteTo${objectPath(to.bucket, to.key)}`;
    try {
      let rewriteToken: string | undefined;
      do {
        const answer = await this.http.json<{ rewriteToken?: string }>(
          this.http.apiUrl(path, rewriteToken ? { rewriteToken } : {}),
          { method: 'POST', body: {}, signal: options.signal },
        );
        // Large or cross-location copies take several calls; the token says where to go on.
        rewriteToken = answer.rewriteToken || undefined;
      } while (rewriteToken);
    } catch (error) {
      // A 404 does not say which side is missing: name the destination bucket when it is the one.
      if (statusOf(error) === 404 && to.bucket !== from.bucket && !(await this.bucketExists(to.bucket, options.signal))) {
        throw toFsError(error, this.ctx(dst, to.bucket, { bucketLevel: true, action: `copy from ${this.protocol}://${src}` }));
      }
      throw toFsError(error, this.ctx(src, from.bucket, { action: `copy to ${this.protocol}://${dst}` }));
    }
  }

  /** buckets.get: resolves when the bucket is there and visible to these credentials. */
  private async getBucket(bucket: string, signal: AbortSignal | undefined): Promise<void> {
    await this.http.call(this.http.apiUrl(`/b/${encodeURIComponent(bucket)}`), { method: 'GET', signal });
  }

  /** False only when buckets.get answers 404; any other failure says nothing, so it counts as there. */
  private async bucketExists(bucket: string, signal: AbortSignal | undefined): Promise<boolean> {
    try {
      await this.getBucket(bucket, signal);
      return true;
    } catch (error) {
      return statusOf(error) !== 404;
    }
  }

  /** Prefixes need no creating; a bare bucket name creates the bucket (needs `projectId` on real GCS). */
  async makeDir(path: string, options: MkdirOptions): Promise<void> {
    const { bucket, key } = this.split(path);
    if (key) return;
    const ctx = this.ctx(path, bucket, { bucketLevel: true, action: 'create bucket' });
    try {
      const project = await this.projectId();
      await this.http.call(this.http.apiUrl('/b', { project }), { method: 'POST', body: { name: bucket }, signal: options.signal });
    } catch (error) {
      if (statusOf(error) !== 409) throw toFsError(error, ctx);
      // 409 only says the name is taken (bucket names are global): mkdir -p succeeds only if it is ours to see.
      await this.expectVisibleBucket(bucket, ctx, options.signal);
      // A 409 with a bucket-level context maps to AlreadyExistsError naming the bucket.
      if (!options.parents) throw toFsError(error, ctx);
    }
  }

  /** Resolves if buckets.get sees `bucket`; 403/404 mean someone else owns the name: AlreadyExistsError. */
  private async expectVisibleBucket(bucket: string, ctx: ErrorContext, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.getBucket(bucket, signal);
    } catch (error) {
      const status = statusOf(error);
      if (status === 403 || status === 404) {
        throw new AlreadyExistsError(
          { path: ctx.path, protocol: this.protocol, cause: sanitizeCause(error) },
          `Bucket already exists but these credentials cannot see it (bucket names are global): ${this.protocol}://${bucket}`,
        );
      }
      // A failed check (throttled, network) says nothing about the owner: report it, retryable as it is.
      throw toFsError(error, ctx);
    }
  }

  /** V4 signed GET URL. Needs a service-account key (or ADC that can sign, e.g. on GCE via IAM signBlob). */
  async sign(path: string, options: SignOptions): Promise<string> {
    const { bucket, key } = this.split(path);
    if (!this.capabilities.sign) {
      throw new NotSupportedError(
        { path, protocol: this.protocol },
        `Cannot sign ${this.protocol}://${path}: no service-account key is configured (pass credentials or keyFilename)`,
      );
    }
    if (!key) throw new InvalidPathError({ path, protocol: this.protocol }, `Cannot sign a bucket root: ${this.protocol}://${path}`);
    if (!(options.expiresIn > 0) || options.expiresIn > MAX_SIGNED_URL_SECONDS) {
      throw new NotSupportedError({ path, protocol: this.protocol }, `Signed URLs last between 1 second and 7 days; got expiresIn=${options.expiresIn}`);
    }
    try {
      const [url] = await abortable(
        this.storage.bucket(bucket).file(key).getSignedUrl({ version: 'v4', action: 'read', expires: Date.now() + options.expiresIn * 1000 }),
        options.signal,
      );
      return url;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // The auth library's ways of saying these credentials hold no key and name no service account.
      if (/client_email|could not load the default credentials|unable to find credentials|cannot sign/i.test(message)) {
        throw new NotSupportedError(
          { path, protocol: this.protocol, cause: sanitizeCause(error) },
          `Cannot sign ${this.protocol}://${path}: these credentials cannot sign URLs (use a service-account key)`,
        );
      }
      throw toFsError(error, this.ctx(path, bucket, { action: 'sign' }));
    }
  }

  /** Releases our connection pool: every request went through it, so no socket stays open. */
  async close(): Promise<void> {
    await this.http.close();
  }

  /* ------------------------------ helpers ------------------------------ */

  /** objects.get: the object's metadata. */
  private getObject(bucket: string, key: string, signal: AbortSignal | undefined): Promise<ObjectResource> {
    return this.http.json<ObjectResource>(this.http.objectUrl(bucket, key), { method: 'GET', signal });
  }

  /** The project for bucket creation: configured, else the credentials' (as the SDK does). */
  private async projectId(): Promise<string> {
    const configured = this.storage.projectId;
    if (configured && configured !== '{{projectId}}') return configured;
    try {
      return await this.storage.authClient.getProjectId();
    } catch (error) {
      // A metadata server's 404 here is about the project, not the bucket: never "bucket not found".
      throw new GcsCredentialsError(error);
    }
  }

  private split(path: string): { bucket: string; key: string } {
    return splitBucketPath(path, this.protocol);
  }

  private ctx(path: string, bucket: string, extra: Partial<ErrorContext> = {}): ErrorContext {
    return { protocol: this.protocol, path, bucket, ...extra };
  }

  private toInfo(name: string, object: ObjectResource): FileInfo {
    return {
      name,
      type: 'file',
      size: Number(object.size ?? 0),
      mtime: object.updated ? new Date(object.updated) : undefined,
      // The generation is GCS's version token: reads pin it, and it changes on every overwrite.
      etag: object.generation !== undefined ? String(object.generation) : undefined,
      contentType: object.contentType,
      generation: object.generation !== undefined ? String(object.generation) : undefined,
      md5Hash: object.md5Hash,
      crc32c: object.crc32c,
    };
  }

  /**
   * Whether sign() can work, decided without a network call: asking the auth library would probe the
   * GCE metadata server. A service-account key signs locally. A client handed to the SDK signs only
   * if it names a service account for IAM signBlob (impersonated, external account with a service
   * account, GCE compute); an access token or user credentials cannot sign at all.
   * Application Default Credentials are known only by looking, so on an authenticated endpoint they
   * count as able, and sign() turns a refusal into NotSupportedError.
   */
  private canSign(options: GcsOptions): boolean {
    const auth = this.storage.authClient as unknown as {
      jsonContent?: { private_key?: string } | null;
      keyFilename?: string;
      cachedCredential?: unknown;
    };
    const hasKey =
      Boolean(options.credentials?.private_key && options.credentials.client_email) ||
      Boolean(options.keyFilename) ||
      Boolean(auth.jsonContent?.private_key) ||
      Boolean(auth.keyFilename);
    if (hasKey) return true;
    if (auth.cachedCredential) return clientCanSign(auth.cachedCredential);
    return !this.storage.customEndpoint || this.storage.useAuthWithCustomEndpoint === true;
  }
}

/**
 * Auth clients the SDK can sign with although no key is configured: those whose service account
 * GoogleAuth.getCredentials can name (any other makes it probe the metadata server, then fail).
 * Duck-typed, as this package does not depend on google-auth-library itself.
 */
function clientCanSign(client: unknown): boolean {
  const c = client as { getTargetPrincipal?: unknown; getServiceAccountEmail?: () => unknown; serviceAccountEmail?: unknown; constructor?: { name?: string } };
  if (typeof c.getTargetPrincipal === 'function') return true; // Impersonated: IAM signBlob
  if (typeof c.getServiceAccountEmail === 'function') return Boolean(c.getServiceAccountEmail()); // external account
  return c.constructor?.name === 'Compute' && typeof c.serviceAccountEmail === 'string'; // GCE: IAM signBlob
}

/**
 * x-goog-hash is of the stored bytes, so it only applies to a body that is exactly those: not an
 * object stored gzip-encoded that GCS decompressed for us, nor a body we decoded ourselves.
 */
function servedAsStored(answer: HttpAnswer): boolean {
  return isIdentity(answer.header('content-encoding')) && isIdentity(answer.header('x-goog-stored-content-encoding'));
}

function isIdentity(encoding: string | null): boolean {
  return encoding === null || encoding.trim().toLowerCase() === 'identity';
}

function crcMismatch(protocol: string, path: string): StorageError {
  return new StorageError({ path, protocol, retryable: true }, `Downloaded bytes do not match the object's CRC32C: ${protocol}://${path}`);
}

function checkCrc32c(bytes: Buffer, expected: string, protocol: string, path: string): void {
  const checksum = new CRC32C();
  checksum.update(bytes);
  if (!checksum.validate(expected)) throw crcMismatch(protocol, path);
}

/** The CRC32C from an `x-goog-hash: crc32c=…,md5=…` header (composite objects have no MD5, but all have it). */
function crc32cOf(header: string | null): string | undefined {
  return header ? /(?:^|,)\s*crc32c=([^,\s]+)/.exec(header)?.[1] : undefined;
}

/** Rejects as soon as `signal` aborts; the SDK call (signing) cannot be cancelled and is left to finish. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  // A plain AbortError: toFsError turns it into fs-core's AbortError with the path filled in.
  const aborted = () => Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError' });
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => undefined);
      reject(aborted());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
