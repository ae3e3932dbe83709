import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { AbortError, AlreadyExistsError, type PartUploader, type WriteMode } from '@strata/fs-core';
import { mapS3Error, type S3ErrorContext } from './errors.js';
import { sendOptions } from './options.js';
import type { SignedRequests } from './signed-requests.js';

/**
 * One object write: a single PutObject when it fits in one part, otherwise a multipart upload.
 * Mode 'create' sends `If-None-Match: *` so the server decides atomically whether the key is free.
 */
export class S3PartUploader implements PartUploader {
  /** Parts are numbered, so they may be sent in any order. */
  readonly partsInAnyOrder = true;
  private uploadId: string | undefined;
  private readonly parts: CompletedPart[] = [];
  private readonly ctx: S3ErrorContext;
  /** Names the object in body errors. */
  private readonly where: { protocol: string; path: string; start: number };

  constructor(
    private readonly client: S3Client,
    /** Sends a single PutObject without the SDK's middleware when it can (see SignedRequests). */
    private readonly signed: SignedRequests | undefined,
    private readonly bucket: string,
    private readonly key: string,
    private readonly mode: WriteMode,
    protocol: string,
    path: string,
  ) {
    this.ctx = { protocol, path, bucket, precondition: mode === 'create' ? 'exists' : undefined };
    this.where = { protocol, path, start: 0 };
  }

  private get ifNoneMatch(): string | undefined {
    return this.mode === 'create' ? '*' : undefined;
  }

  async putWhole(data: Uint8Array, signal?: AbortSignal, attempt = 1): Promise<void> {
    try {
      const sent = await this.signed?.put(this.bucket, this.key, data, this.ifNoneMatch, signal, this.where);
      if (!sent) {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: data, ContentLength: data.byteLength, IfNoneMatch: this.ifNoneMatch }),
          sendOptions(signal),
        );
      }
    } catch (raw) {
      const error = mapS3Error(raw, this.ctx);
      // An earlier try may have landed unseen; then the object in the way is our own.
      if (attempt > 1 && error instanceof AlreadyExistsError && (await this.currentETagIs(md5ETag(data), signal))) return;
      throw error;
    }
  }

  async start(signal?: AbortSignal): Promise<void> {
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key }), sendOptions(signal));
      if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
      this.uploadId = created.UploadId;
    } catch (error) {
      throw mapS3Error(error, this.ctx);
    }
  }

  async uploadPart(partNumber: number, data: Uint8Array, _isLast: boolean, signal?: AbortSignal): Promise<void> {
    const uploadId = this.requireUpload();
    try {
      const sent = await this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: data,
          ContentLength: data.byteLength,
        }),
        sendOptions(signal),
      );
      // Checksums the SDK added to a part must be repeated at completion.
      this.parts[partNumber - 1] = {
        PartNumber: partNumber,
        ETag: sent.ETag,
        ChecksumCRC32: sent.ChecksumCRC32,
        ChecksumCRC32C: sent.ChecksumCRC32C,
        ChecksumCRC64NVME: sent.ChecksumCRC64NVME,
        ChecksumSHA1: sent.ChecksumSHA1,
        ChecksumSHA256: sent.ChecksumSHA256,
      };
    } catch (error) {
      throw mapS3Error(error, this.ctx);
    }
  }

  async complete(partCount: number, _totalBytes: number, signal?: AbortSignal, attempt = 1): Promise<void> {
    const uploadId = this.requireUpload();
    // Array.from turns holes (parts never recorded) into undefined, which some() then sees.
    const parts = Array.from(this.parts.slice(0, partCount));
    if (parts.length !== partCount || parts.some((part) => part === undefined)) {
      throw mapS3Error(new Error(`Multipart upload is missing parts (${parts.length} of ${partCount} recorded)`), this.ctx);
    }
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          IfNoneMatch: this.ifNoneMatch,
        }),
        sendOptions(signal),
      );
      this.uploadId = undefined;
    } catch (raw) {
      const error = mapS3Error(raw, this.ctx);
      // After a lost answer the upload is gone (NoSuchUpload) or, for create, the key is taken:
      // both are success if the object now there is the one these parts make.
      const lostAnswer = (raw as { name?: unknown }).name === 'NoSuchUpload' || error instanceof AlreadyExistsError;
      if (attempt > 1 && lostAnswer && (await this.currentETagIs(multipartETag(parts), signal))) {
        this.uploadId = undefined;
        return;
      }
      throw error;
    }
  }

  async abort(signal?: AbortSignal): Promise<void> {
    const uploadId = this.uploadId;
    if (uploadId === undefined) return;
    try {
      // `signal` is PartWriter's cleanup bound: a stalled AbortMultipartUpload must not hang the caller.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: uploadId }), sendOptions(signal));
      this.uploadId = undefined;
    } catch (raw) {
      const name = (raw as { name?: unknown }).name;
      if (name === 'NoSuchUpload') {
        this.uploadId = undefined;
        return;
      }
      throw mapS3Error(raw, this.ctx);
    }
  }

  private requireUpload(): string {
    if (this.uploadId === undefined) throw mapS3Error(new Error('Multipart upload is not open (never started, completed or aborted)'), this.ctx);
    return this.uploadId;
  }

  /**
   * Whether the object now at the key is the one this upload would have made. A transient failure of
   * the question itself is thrown (so the retry policy asks again) rather than read as "not ours".
   */
  private async currentETagIs(expected: string | undefined, signal?: AbortSignal): Promise<boolean> {
    if (expected === undefined) return false;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key }), sendOptions(signal));
      return head.ETag === expected;
    } catch (raw) {
      const error = mapS3Error(raw, { ...this.ctx, precondition: undefined });
      if (error.retryable || error instanceof AbortError) throw error;
      // Gone again, or not ours to inspect: we cannot claim the object, so the conflict stands.
      return false;
    }
  }
}

/** The ETag S3 gives a single PUT without KMS or customer keys: the body's MD5. */
function md5ETag(data: Uint8Array): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

/** The ETag of a completed multipart upload: MD5 of the parts' binary MD5s, then '-' and the part count. */
function multipartETag(parts: CompletedPart[]): string | undefined {
  const hash = createHash('md5');
  for (const part of parts) {
    const hex = part.ETag?.replaceAll('"', '');
    if (!hex || !/^[0-9a-f]{32}$/i.test(hex)) return undefined;
    hash.update(Buffer.from(hex, 'hex'));
  }
  return `"${hash.digest('hex')}-${parts.length}"`;
}
