import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  AbortError,
  directoryMarker,
  IsADirectoryError,
  NotSupportedError,
  PartWriter,
  readBodyExactly,
  splitBucketPath,
  type AdapterListOptions,
  type AdapterReadOptions,
  type AdapterWriter,
  type AdapterWriteOptions,
  type CallOptions,
  type Capabilities,
  type FileInfo,
  type MkdirOptions,
  type SignOptions,
  type StorageAdapter,
  type WriteMode,
} from '@strata/fs-core';
import { mapS3Error, type S3ErrorContext } from './errors.js';
import { createS3Client, MAX_PARTS, resolveTuning, sendOptions, type ResolvedS3Options, type S3AdapterOptions } from './options.js';
import { SignedRequests } from './signed-requests.js';
import { S3PartUploader } from './uploader.js';

export const S3_PROTOCOLS = ['s3', 's3a'] as const;
const DELETE_BATCH = 1000;
/** Longest validity SigV4 allows for a presigned URL. */
const MAX_SIGN_SECONDS = 7 * 24 * 3600;

/** The S3 core fs-core builds a FileSystem on. Paths are `bucket/key`, already normalised. */
export class S3Adapter implements StorageAdapter {
  readonly protocol: string;
  /** The other spelling of the protocol: s3:// and s3a:// URLs name the same objects. */
  readonly aliases: string[];
  readonly capabilities: Capabilities = {
    atomicCommit: true,
    conditionalCreate: true,
    rangeRead: true,
    emptyDirectories: false,
    sign: true,
    serverSideCopy: true,
    atomicMove: false,
  };
  readonly client: S3Client;
  private readonly ownsClient: boolean;
  private readonly tuning: ResolvedS3Options;
  /** GetObject and PutObject past the SDK's middleware (see SignedRequests); undefined for a client the caller built. */
  private readonly signed: SignedRequests | undefined;

  constructor(options: S3AdapterOptions = {}, protocol = 's3') {
    this.protocol = protocol;
    this.aliases = S3_PROTOCOLS.filter((p) => p !== protocol);
    this.tuning = resolveTuning(options);
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? createS3Client(options);
    // A client the caller built may carry middleware of its own (logging, counting, auth), which
    // only the SDK's request path runs; so does a request handler given in clientConfig.
    this.signed = this.ownsClient && options.clientConfig?.requestHandler === undefined ? new SignedRequests(this.client) : undefined;
  }

  async head(path: string, options: CallOptions): Promise<FileInfo> {
    if (path === '') return { name: '', type: 'directory', size: 0 };
    const { bucket, key } = this.split(path);
    const ctx = this.ctx(path, bucket);
    try {
      if (key === '') {
        await this.client.send(new HeadBucketCommand({ Bucket: bucket }), sendOptions(options.signal));
        return { name: bucket, type: 'directory', size: 0 };
      }
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), sendOptions(options.signal));
      return {
        name: path,
        type: 'file',
        size: head.ContentLength ?? 0,
        mtime: head.LastModified,
        etag: head.ETag,
        contentType: head.ContentType,
      };
    } catch (error) {
      // HEAD has no body: a 404 on the bare bucket is the only sign the bucket is missing.
      if (key === '' && isNotFound(error)) throw mapS3Error(Object.assign(new Error('NoSuchBucket'), { name: 'NoSuchBucket' }), ctx);
      throw mapS3Error(error, ctx);
    }
  }

  async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    if (path === '') {
      yield* this.listBuckets(options);
      return;
    }
    const { bucket, key } = this.split(path);
    const ctx = this.ctx(path, bucket);
    const prefix = key === '' ? '' : `${key}/`;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix,
            Delimiter: options.recursive ? undefined : '/',
            ContinuationToken: token,
          }),
          sendOptions(options.signal),
        );
      } catch (error) {
        throw mapS3Error(error, ctx);
      }
      // Names as stored: fs-core drops the ones no normalised path reaches (`a//b` lists `a/` here).
      for (const dir of page.CommonPrefixes ?? []) {
        if (dir.Prefix) yield { name: `${bucket}/${dir.Prefix.slice(0, -1)}`, type: 'directory', size: 0 };
      }
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        if (object.Key.endsWith('/')) {
          yield directoryMarker(`${bucket}/${object.Key}`, object.LastModified);
          continue;
        }
        yield {
          name: `${bucket}/${object.Key}`,
          type: 'file',
          size: object.Size ?? 0,
          mtime: object.LastModified,
          etag: object.ETag,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array> {
    if (end !== undefined && end <= start) {
      // No bytes wanted, but a missing or changed object must still fail.
      await this.checkVersion(path, options);
      return new Uint8Array(0);
    }
    const where = { protocol: this.protocol, path, start };
    const bytes = await this.getObject(path, start, end, options, async (bucket, key, range) => {
      const signed = await this.signed?.getBytes(bucket, key, range, options.etag, options.signal, where);
      if (signed) return signed;
      const got = await this.sdkGetObject(bucket, key, range, options);
      const body = got.Body as unknown as Readable | undefined;
      if (body === undefined) return new Uint8Array(0);
      // Content-Length is what the server promised for this range (a range past the end is shorter).
      if (got.ContentLength === undefined) return new Uint8Array(await buffer(body));
      return readBodyExactly(body, got.ContentLength, where);
    });
    return bytes ?? new Uint8Array(0);
  }

  async *readStream(path: string, start: number, end: number | undefined, options: AdapterReadOptions): AsyncIterable<Uint8Array> {
    if (end !== undefined && end <= start) {
      await this.checkVersion(path, options);
      return;
    }
    const body = await this.getObject(path, start, end, options, async (bucket, key, range) => {
      const signed = await this.signed?.get(bucket, key, range, options.etag, options.signal);
      if (signed) return signed.Body;
      return (await this.sdkGetObject(bucket, key, range, options)).Body;
    });
    if (body === undefined) return;
    const stream = body as unknown as AsyncIterable<Uint8Array> & { destroy?: () => void };
    let finished = false;
    try {
      for await (const chunk of stream) yield chunk;
      finished = true;
    } catch (error) {
      throw mapS3Error(error, this.ctx(path));
    } finally {
      // A consumer that stops early must not leave the socket half-read.
      if (!finished) stream.destroy?.();
    }
  }

  async createWriter(path: string, mode: WriteMode, options: AdapterWriteOptions): Promise<AdapterWriter> {
    const { bucket, key } = this.split(path);
    if (key === '') throw new IsADirectoryError({ path, protocol: this.protocol }, `Cannot write to a bucket root: ${this.protocol}://${path}`);
    const uploader = new S3PartUploader(this.client, this.signed, bucket, key, mode, this.protocol, path);
    return new PartWriter(uploader, { partSize: this.tuning.partSize, concurrency: this.tuning.uploadConcurrency, retry: options.retry });
  }

  async remove(path: string, options: CallOptions): Promise<void> {
    const { bucket, key } = this.split(path);
    if (key === '') throw new IsADirectoryError({ path, protocol: this.protocol }, `Not a file (a bucket root): ${this.protocol}://${path}`);
    // DeleteObject succeeds for missing keys; the contract wants NotFoundError, so look first.
    await this.head(path, options);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), sendOptions(options.signal));
    } catch (error) {
      throw mapS3Error(error, this.ctx(path, bucket));
    }
  }

  async removeMany(paths: string[], options: CallOptions): Promise<void> {
    const byBucket = new Map<string, string[]>();
    for (const path of paths) {
      const { bucket, key } = this.split(path);
      if (key === '') throw new IsADirectoryError({ path, protocol: this.protocol }, `Not a file (a bucket root): ${this.protocol}://${path}`);
      let keys = byBucket.get(bucket);
      if (!keys) byBucket.set(bucket, (keys = []));
      keys.push(key);
    }
    for (const [bucket, keys] of byBucket) {
      for (let i = 0; i < keys.length; i += DELETE_BATCH) {
        const batch = keys.slice(i, i + DELETE_BATCH);
        let result;
        try {
          result = await this.client.send(
            new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
            sendOptions(options.signal),
          );
        } catch (error) {
          throw mapS3Error(error, this.ctx(`${bucket}/${batch[0]}`, bucket));
        }
        // DeleteObjects answers 200 even when some keys failed; each failure is listed.
        const failures = (result.Errors ?? []).filter((failure) => failure.Code !== 'NoSuchKey');
        const first = failures[0];
        if (first) {
          const error = mapS3Error(
            Object.assign(new Error(first.Message ?? first.Code ?? 'DeleteObjects failed'), { name: first.Code ?? 'UnknownError' }),
            this.ctx(`${bucket}/${first.Key ?? ''}`, bucket),
          );
          if (failures.length > 1) error.message += ` (and ${failures.length - 1} more keys failed to delete)`;
          throw error;
        }
      }
    }
  }

  async copyFile(src: string, dst: string, options: CallOptions): Promise<void> {
    const source = this.split(src);
    const target = this.split(dst);
    if (target.key === '') throw new IsADirectoryError({ path: dst, protocol: this.protocol }, `Cannot copy onto a bucket root: ${this.protocol}://${dst}`);
    const info = await this.head(src, options);
    if (info.type !== 'file') throw new IsADirectoryError({ path: src, protocol: this.protocol });
    if (src === dst) return;
    const copySource = `${source.bucket}/${source.key.split('/').map(encodeURIComponent).join('/')}`;
    const ctx: S3ErrorContext = { ...this.ctx(dst, target.bucket), precondition: 'changed' };
    if (info.size <= this.tuning.multipartCopyThreshold) {
      try {
        await this.client.send(
          new CopyObjectCommand({ Bucket: target.bucket, Key: target.key, CopySource: copySource, CopySourceIfMatch: info.etag }),
          sendOptions(options.signal),
        );
      } catch (error) {
        throw mapS3Error(error, ctx);
      }
      return;
    }
    await this.multipartCopy(copySource, target.bucket, target.key, info, ctx, options.signal);
  }

  async makeDir(path: string, options: MkdirOptions): Promise<void> {
    const { bucket, key } = this.split(path);
    if (key !== '') return; // prefixes exist as soon as a key is under them
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }), sendOptions(options.signal));
    } catch (error) {
      const name = (error as { name?: unknown }).name;
      if (name === 'BucketAlreadyOwnedByYou' && options.parents) return;
      throw mapS3Error(error, this.ctx(path, bucket));
    }
  }

  async sign(path: string, options: SignOptions): Promise<string> {
    const { bucket, key } = this.split(path);
    if (key === '') throw new IsADirectoryError({ path, protocol: this.protocol }, `Cannot sign a bucket root: ${this.protocol}://${path}`);
    if (!(options.expiresIn >= 1 && options.expiresIn <= MAX_SIGN_SECONDS)) {
      throw new NotSupportedError(
        { path, protocol: this.protocol },
        `S3 presigned URLs last 1 to ${MAX_SIGN_SECONDS} seconds (7 days), not ${options.expiresIn}: ${this.protocol}://${path}`,
      );
    }
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: Math.floor(options.expiresIn) });
    } catch (error) {
      throw mapS3Error(error, this.ctx(path, bucket));
    }
  }

  async close(): Promise<void> {
    await this.signed?.close();
    if (this.ownsClient) this.client.destroy();
  }

  private async *listBuckets(options: CallOptions): AsyncIterable<FileInfo> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListBucketsCommand({ ContinuationToken: token }), sendOptions(options.signal));
      } catch (error) {
        throw mapS3Error(error, this.ctx(''));
      }
      for (const bucket of page.Buckets ?? []) {
        if (bucket.Name) yield { name: bucket.Name, type: 'directory', size: 0, mtime: bucket.CreationDate };
      }
      token = page.ContinuationToken;
    } while (token);
  }

  /**
   * What `fetch` makes of the GetObject for bytes [start, end) (the bytes, or the body as a stream),
   * or undefined when the range starts at or past the end. Errors are mapped here, for both.
   */
  private async getObject<T>(
    path: string,
    start: number,
    end: number | undefined,
    options: AdapterReadOptions,
    fetch: (bucket: string, key: string, range: string | undefined) => Promise<T>,
  ): Promise<T | undefined> {
    const { bucket, key } = this.split(path);
    if (key === '') throw new IsADirectoryError({ path, protocol: this.protocol });
    const range = start === 0 && end === undefined ? undefined : `bytes=${start}-${end === undefined ? '' : end - 1}`;
    const ctx: S3ErrorContext = { ...this.ctx(path, bucket), precondition: 'changed' };
    try {
      return await fetch(bucket, key, range);
    } catch (error) {
      if (options.signal?.aborted) throw new AbortError({ path, protocol: this.protocol, cause: error });
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 416 || (error as { name?: unknown }).name === 'InvalidRange') {
        // Start at or past the end (or an empty object): no bytes, once the object is known to be there.
        await this.checkVersion(path, options);
        return undefined;
      }
      throw mapS3Error(error, ctx);
    }
  }

  /** GetObject through the SDK, for clients whose middleware must run and buckets only the SDK can sign for. */
  private sdkGetObject(bucket: string, key: string, range: string | undefined, options: AdapterReadOptions) {
    return this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range, IfMatch: options.etag }), sendOptions(options.signal));
  }

  /** Throws NotFoundError if the object is gone, ConflictError if it no longer has the pinned ETag. */
  private async checkVersion(path: string, options: AdapterReadOptions): Promise<void> {
    const { bucket, key } = this.split(path);
    const ctx: S3ErrorContext = { ...this.ctx(path, bucket), precondition: 'changed' };
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, IfMatch: options.etag }), sendOptions(options.signal));
    } catch (error) {
      throw mapS3Error(error, ctx);
    }
  }

  private async multipartCopy(
    copySource: string,
    bucket: string,
    key: string,
    info: FileInfo,
    ctx: S3ErrorContext,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const partSize = Math.max(this.tuning.copyPartSize, Math.ceil(info.size / MAX_PARTS));
    const partCount = Math.max(1, Math.ceil(info.size / partSize));
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }), sendOptions(signal));
      uploadId = created.UploadId;
      if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      const parts = new Array<CompletedPart>(partCount);
      let next = 0;
      let failed = false;
      const worker = async () => {
        while (next < partCount && !failed) {
          const index = next++;
          const first = index * partSize;
          const last = Math.min(info.size, first + partSize) - 1;
          const copied = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: copySource,
              CopySourceRange: `bytes=${first}-${last}`,
              // Every part must come from the same version of the source.
              CopySourceIfMatch: info.etag,
            }),
            sendOptions(signal),
          );
          parts[index] = { PartNumber: index + 1, ETag: copied.CopyPartResult?.ETag };
        }
      };
      // Let every running part settle before aborting, so no part lands after the abort.
      const settled = await Promise.allSettled(
        Array.from({ length: Math.min(this.tuning.uploadConcurrency, partCount) }, () =>
          worker().catch((error: unknown) => {
            failed = true;
            throw error;
          }),
        ),
      );
      const rejected = settled.find((result) => result.status === 'rejected');
      if (rejected) throw rejected.reason;
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        sendOptions(signal),
      );
    } catch (error) {
      if (uploadId) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      }
      throw mapS3Error(error, ctx);
    }
  }

  private split(path: string): { bucket: string; key: string } {
    return splitBucketPath(path, this.protocol);
  }

  private ctx(path: string, bucket?: string): S3ErrorContext {
    return { protocol: this.protocol, path, bucket };
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchBucket' || e.$metadata?.httpStatusCode === 404;
}
