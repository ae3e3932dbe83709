import { randomBytes } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential, newPipeline } from '@azure/storage-blob';
import { splitBucketPath } from '@strata/fs-core';
import type {} from '@strata/test-servers/vitest-setup';
import { inject } from 'vitest';
import { createFileSystem, type AzureBlobOptions } from '../src/index.js';

export function azurite() {
  const info = inject('azure');
  if (!info) throw new Error('Azurite is not running: run these tests through vitest with STRATA_TEST_SERVERS=azure');
  return info;
}

/** A container name no other test file uses (3-63 lowercase letters, digits, hyphens). */
export function uniqueContainer(tag: string): string {
  return `fsaz-${tag}-${randomBytes(4).toString('hex')}`;
}

export function sdkClient(): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(azurite().connectionString);
}

export function azureFs(options: AzureBlobOptions = {}, protocol?: string) {
  return createFileSystem({ connectionString: azurite().connectionString, ...options }, protocol);
}

/**
 * A filesystem on an injected SDK client (so every request goes through the SDK's pipeline) that
 * records each request as `METHOD comp`, e.g. `GET list`, `POST batch`, `DELETE `.
 */
export function recordingFs(options: AzureBlobOptions = {}): { fs: ReturnType<typeof createFileSystem>; seen: string[] } {
  const seen: string[] = [];
  const { accountName, accountKey, blobEndpoint } = azurite();
  const pipeline = newPipeline(new StorageSharedKeyCredential(accountName, accountKey), { retryOptions: { maxTries: 1 } });
  pipeline.factories.unshift({
    create: (next) => ({
      sendRequest: (request) => {
        seen.push(`${request.method} ${new URL(request.url).searchParams.get('comp') ?? ''}`);
        return next.sendRequest(request);
      },
    }),
  });
  return { fs: createFileSystem({ ...options, blobServiceClient: new BlobServiceClient(blobEndpoint, pipeline) }), seen };
}

/** Stores `data` at `path` (`container/blob`) exactly as given, as other tools do (`dir/` markers): the conformance suite's rawPut. */
export async function putRaw(path: string, data: Uint8Array): Promise<void> {
  const { bucket: container, key } = splitBucketPath(path);
  await sdkClient().getContainerClient(container).getBlockBlobClient(key).upload(data, data.length);
}

export async function createContainer(name: string): Promise<void> {
  await sdkClient().getContainerClient(name).create();
}

export async function deleteContainer(name: string): Promise<void> {
  await sdkClient().getContainerClient(name).deleteIfExists();
}

/** Runs `tasks` with at most `limit` in flight. */
export async function runBounded<T>(count: number, limit: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) results[i] = await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}
