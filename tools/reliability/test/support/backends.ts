/**
 * The three cloud backends, each reachable straight at its loopback server or through a
 * FaultProxy, plus raw SDK clients that check server state behind the filesystem's back.
 */
import { randomBytes } from 'node:crypto';

import { AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { Storage } from '@google-cloud/storage';
import type { FileSystem, RetryOptions } from '@strata/fs-core';
import { createFileSystem as createAzureFs } from '@strata/fs-azure';
import { createFileSystem as createGcsFs } from '@strata/fs-gcs';
import { createFileSystem as createS3Fs } from '@strata/fs-s3';
import type { AzuriteInfo, GcsServerInfo, S3ServerInfo } from '@strata/test-servers';
import type {} from '@strata/test-servers/vitest-setup';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { inject } from 'vitest';

import { FaultProxy, type FaultRule } from '../../src/fault-proxy.js';
import type { Dialect } from '../../src/operations.js';

export type BackendName = 's3' | 'gcs' | 'azure';
export const BACKENDS: readonly BackendName[] = ['s3', 'gcs', 'azure'];

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function s3Server(): S3ServerInfo {
  const info = inject('s3');
  if (!info?.endpoint) throw new Error('No S3 test server: the @strata/test-servers global setup must start "s3"');
  return info;
}
export function gcsServer(): GcsServerInfo {
  const info = inject('gcs');
  if (!info?.endpoint) throw new Error('No GCS test server: the @strata/test-servers global setup must start "gcs"');
  return info;
}
export function azureServer(): AzuriteInfo {
  const info = inject('azure');
  if (!info?.blobEndpoint) throw new Error('No Azurite: the @strata/test-servers global setup must start "azure"');
  return info;
}

/** A connection string for Azurite's account whose blob endpoint is `origin` (the server or a proxy). */
export function azuriteConnectionString(origin: string, accountKey = azureServer().accountKey): string {
  const { accountName } = azureServer();
  return `DefaultEndpointsProtocol=http;AccountName=${accountName};AccountKey=${accountKey};BlobEndpoint=${origin}/${accountName};`;
}

function originOf(url: string): string {
  return new URL(url).origin;
}

export function serverOrigin(name: BackendName): string {
  if (name === 's3') return originOf(s3Server().endpoint);
  if (name === 'gcs') return originOf(gcsServer().endpoint);
  return originOf(azureServer().blobEndpoint);
}

export interface FsOptions {
  retry?: RetryOptions | undefined;
  /** Where the client connects: the server itself (default) or a proxy origin. */
  origin?: string | undefined;
  /** Backend-specific extras (partSize, chunkSize, blockSize, credentials...). */
  extra?: Record<string, unknown> | undefined;
}

/** A filesystem of `name` talking to `origin` (the server, or a proxy in front of it). */
export function makeFs(name: BackendName, options: FsOptions = {}): FileSystem {
  const origin = options.origin ?? serverOrigin(name);
  const common = { retry: options.retry, ...options.extra };
  if (name === 's3') {
    const s = s3Server();
    return createS3Fs({
      endpoint: origin,
      region: s.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
      ...common,
    });
  }
  if (name === 'gcs') {
    return createGcsFs({ apiEndpoint: origin, projectId: gcsServer().projectId, ...common });
  }
  return createAzureFs({ connectionString: azuriteConnectionString(origin), ...common });
}

/** Raw SDK access to a server, for setup and for checking what is really stored. */
export interface ServerProbe {
  createBucket(name: string): Promise<void>;
  destroyBucket(name: string): Promise<void>;
  /** Keys (no bucket) of committed objects under `prefix`. */
  listKeys(bucket: string, prefix: string): Promise<string[]>;
  /**
   * Server-side leftovers of unfinished writes under `prefix` that the write contract says must be
   * cleaned: in-progress S3 multipart uploads. (A GCS resumable session cannot be listed and never
   * becomes visible; Azure's uncommitted blocks cannot be deleted without the blob and are
   * discarded by the service, so neither counts.)
   */
  leftovers(bucket: string, prefix: string): Promise<string[]>;
  /** Azure only: blobs under `prefix` that exist only as uncommitted blocks (informational). */
  uncommitted(bucket: string, prefix: string): Promise<string[]>;
  close(): void;
}

export function probe(name: BackendName): ServerProbe {
  if (name === 's3') return s3Probe();
  if (name === 'gcs') return gcsProbe();
  return azureProbe();
}

function s3Probe(): ServerProbe {
  const s = s3Server();
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  });
  const uploads = async (bucket: string, prefix: string) => {
    const found: Array<{ Key: string; UploadId: string }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const u of page.Uploads ?? []) found.push({ Key: u.Key!, UploadId: u.UploadId! });
      if (!page.IsTruncated) return found;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  };
  const listKeys = async (bucket: string, prefix: string) => {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) keys.push(o.Key!);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  };
  return {
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async destroyBucket(bucket) {
      for (const u of await uploads(bucket, '')) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, ...u }));
      for (;;) {
        const keys = await listKeys(bucket, '');
        if (keys.length === 0) break;
        for (let i = 0; i < keys.length; i += 1000) {
          await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
        }
      }
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    },
    listKeys,
    async leftovers(bucket, prefix) {
      return (await uploads(bucket, prefix)).map((u) => `multipart upload ${u.Key} (${u.UploadId})`);
    },
    uncommitted: async () => [],
    close: () => client.destroy(),
  };
}

function gcsProbe(): ServerProbe {
  const { endpoint, projectId } = gcsServer();
  const storage = new Storage({ apiEndpoint: endpoint, projectId, retryOptions: { autoRetry: false } });
  return {
    async createBucket(bucket) {
      await storage.createBucket(bucket);
    },
    async destroyBucket(bucket) {
      await storage.bucket(bucket).deleteFiles({ force: true }).catch(() => undefined);
      await storage.bucket(bucket).delete();
    },
    async listKeys(bucket, prefix) {
      const [files] = await storage.bucket(bucket).getFiles({ prefix });
      return files.map((f) => f.name);
    },
    // An unfinalised resumable session is invisible by design (and expires on its own): nothing to list.
    leftovers: async () => [],
    uncommitted: async () => [],
    close: () => undefined,
  };
}

function azureProbe(): ServerProbe {
  const service = BlobServiceClient.fromConnectionString(azureServer().connectionString);
  const listKeys = async (bucket: string, prefix: string) => {
    const names: string[] = [];
    for await (const blob of service.getContainerClient(bucket).listBlobsFlat({ prefix })) names.push(blob.name);
    return names;
  };
  return {
    async createBucket(bucket) {
      await service.getContainerClient(bucket).create();
    },
    async destroyBucket(bucket) {
      await service.getContainerClient(bucket).deleteIfExists();
    },
    listKeys,
    leftovers: async () => [],
    // Staged but never committed blocks live on a blob that lists only with include=uncommittedblobs.
    async uncommitted(bucket, prefix) {
      const committed = new Set(await listKeys(bucket, prefix));
      const names: string[] = [];
      for await (const blob of service.getContainerClient(bucket).listBlobsFlat({ prefix, includeUncommitedBlobs: true })) {
        if (!committed.has(blob.name)) names.push(`uncommitted blocks on ${blob.name}`);
      }
      return names;
    },
    close: () => undefined,
  };
}

export function dialectOf(name: BackendName): Dialect {
  return name;
}

/** A proxy in front of `name`'s server. */
export function startProxy(name: BackendName, rules: FaultRule[] = [], seed = 1, stallMs?: number): Promise<FaultProxy> {
  return FaultProxy.start({ target: serverOrigin(name), dialect: dialectOf(name), rules, seed, stallMs });
}

/** Deterministic pseudo-random jitter for retry policies (tests must be repeatable). */
export function seededRandom(seed: number): () => number {
  const rng = xoroshiro128plus(seed);
  return () => uniformFloat64(rng);
}
