import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  AbortMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { splitBucketPath } from '@strata/fs-core';
import type { S3ServerInfo } from '@strata/test-servers';
import type {} from '@strata/test-servers/vitest-setup';
import { afterAll, beforeAll, inject } from 'vitest';
import { createFileSystem, type S3FileSystemOptions } from '../src/index.js';

export type { S3ServerInfo };

/** Connection details of the loopback S3 server the shared global setup started. */
export function server(): S3ServerInfo {
  const info = inject('s3');
  if (!info?.endpoint) throw new Error('No S3 test server: the @strata/test-servers global setup must start "s3"');
  return info;
}

export function serverOptions(extra: S3FileSystemOptions = {}): S3FileSystemOptions {
  const s = server();
  return {
    endpoint: s.endpoint,
    region: s.region,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    ...extra,
  };
}

export function makeFs(extra: S3FileSystemOptions = {}, protocol = 's3') {
  return createFileSystem(serverOptions(extra), protocol);
}

/** A plain SDK client for checking server state behind the filesystem's back. */
export function rawClient(): S3Client {
  const s = server();
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export async function createBucket(client: S3Client, name = uniqueName('strata-s3')): Promise<string> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Empties and deletes a bucket, aborting any multipart uploads left in it. */
export async function destroyBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
    if (!uploads.IsTruncated) break;
  }
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * Stores `data` at `path` (`bucket/key`) exactly as given, as other tools do (`dir/` folder markers):
 * the conformance suite's rawPut. False for a key the server refuses (MinIO: an empty segment, `a//b`).
 */
export async function putRaw(client: S3Client, path: string, data: Uint8Array): Promise<boolean> {
  const { bucket, key } = splitBucketPath(path);
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));
    return true;
  } catch (error) {
    if ((error as { name?: unknown }).name === 'XMinioInvalidObjectName') return false;
    throw error;
  }
}

/** In-progress multipart uploads under a key prefix. */
export async function openUploads(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
    );
    for (const u of page.Uploads ?? []) found.push(`${u.Key}#${u.UploadId}`);
    if (!page.IsTruncated) return found;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
  }
}

/** Deterministic bytes that differ per offset and seed, so misplaced or mixed parts show up. */
export function patternBytes(length: number, seed: number, offset = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const n = offset + i;
    out[i] = (n * 31 + (n >>> 8) * 7 + (n >>> 16) * 13 + seed * 101) & 0xff;
  }
  return out;
}

/** Runs `task` over `items` with at most `limit` at once. */
export async function eachLimit<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

export const MiB = 1024 * 1024;

/**
 * A client whose first `command` fails with a connection reset: `after` the server did it (the
 * answer is lost) or `before` it was sent, running `meanwhile` in the gap.
 */
export function clientFailingFirst(command: string, when: 'before' | 'after', meanwhile?: () => Promise<void>): S3Client {
  const lossy = rawClient();
  let failed = false;
  lossy.middlewareStack.add(
    (next, context) => async (args) => {
      const fail = context.commandName === command && !failed;
      if (fail) failed = true;
      if (fail && when === 'before') {
        await meanwhile?.();
        throw Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' });
      }
      const result = await next(args);
      if (fail) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return result;
    },
    { step: 'initialize', name: 'failFirst' },
  );
  return lossy;
}

/** A raw client and a bucket made before the calling file's tests and destroyed after them. */
export function bucketForThisFile(): { readonly client: S3Client; readonly bucket: string } {
  const state = {} as { client: S3Client; bucket: string };
  beforeAll(async () => {
    state.client = rawClient();
    state.bucket = await createBucket(state.client);
  });
  afterAll(async () => {
    if (state.bucket) await destroyBucket(state.client, state.bucket);
    state.client?.destroy();
  });
  return state;
}
