import { randomBytes } from 'node:crypto';
import { BlobClient, BlockBlobClient, RestError, type BlobDeleteOptions } from '@azure/storage-blob';
import type { FileSystem } from '@strata/fs-core';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { azureFs, createContainer, deleteContainer, sdkClient, uniqueContainer } from './helpers.js';

// Staged blocks of an aborted write, as the service sees them (Get Block List), not just "invisible".
const blockSize = 64 * 1024;
let container: string;
let fs: FileSystem;

beforeAll(async () => {
  container = uniqueContainer('abort');
  await createContainer(container);
  fs = azureFs({ blockSize, uploadConcurrency: 2 });
});

afterAll(async () => {
  await fs.close();
  await deleteContainer(container);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const blob = (name: string) => sdkClient().getContainerClient(container).getBlockBlobClient(name);

/** The uncommitted block count on `name`, or 'no blob' when the service knows nothing by that name. */
async function staged(name: string): Promise<number | 'no blob'> {
  try {
    return (await blob(name).getBlockList('all')).uncommittedBlocks?.length ?? 0;
  } catch (error) {
    if ((error as RestError).statusCode === 404) return 'no blob';
    throw error;
  }
}

/** Opens `name` and writes four blocks: the first is held back until commit, the others are staged. */
async function stagedWrite(name: string, mode: 'wb' | 'xb' = 'wb') {
  const handle = await fs.open(`${container}/${name}`, mode);
  await handle.write(randomBytes(4 * blockSize));
  expect(await staged(name), 'blocks staged before the abort').toBeGreaterThanOrEqual(2);
  return handle;
}

describe('aborted block uploads', () => {
  test('abort, dispose without commit and a failed commit leave no staged blocks on a new name', async () => {
    const aborted = await stagedWrite('new/aborted.bin');
    await aborted.abort();
    expect(await staged('new/aborted.bin')).toBe('no blob');

    const disposed = await stagedWrite('new/disposed.bin', 'xb');
    await disposed[Symbol.asyncDispose]();
    expect(await staged('new/disposed.bin')).toBe('no blob');

    const failing = await stagedWrite('new/failed-commit.bin');
    vi.spyOn(BlockBlobClient.prototype, 'commitBlockList').mockRejectedValueOnce(
      new RestError('One of the HTTP headers is invalid', { statusCode: 400, code: 'InvalidHeaderValue' }),
    );
    await expect(failing.commit()).rejects.toThrow();
    expect(await staged('new/failed-commit.bin')).toBe('no blob');
    expect(await fs.exists(`${container}/new/failed-commit.bin`)).toBe(false);
  });

  test('an aborted overwrite leaves the committed blob untouched; its next commit drops the blocks', async () => {
    const name = 'existing/kept.txt';
    await fs.pipe(`${container}/${name}`, 'old content');
    const before = await blob(name).getProperties();
    const handle = await stagedWrite(name);
    await handle.abort();
    const after = await blob(name).getProperties();
    expect(after.etag, 'no commit, no delete').toBe(before.etag);
    expect(after.lastModified).toEqual(before.lastModified);
    expect((await blob(name).downloadToBuffer()).toString()).toBe('old content');

    // The documented remainder: staged blocks of an existing blob wait for its next Put Block List.
    const next = await fs.open(`${container}/${name}`, 'wb');
    await next.write(randomBytes(2 * blockSize + 1));
    await next.commit();
    expect(await staged(name)).toBe(0);
  });

  test('a blob another writer commits while the abort cleans up is kept', async () => {
    const name = 'race/committed-meanwhile.txt';
    const handle = await stagedWrite(name);
    const originalDelete = BlobClient.prototype.delete;
    const deleteSpy = vi.spyOn(BlobClient.prototype, 'delete').mockImplementation(async function (this: BlobClient, options?: BlobDeleteOptions) {
      // Between the abort's checks and its delete, another writer's Put Blob lands.
      await blob(name).upload('theirs', 6);
      return originalDelete.call(this, options);
    });
    await handle.abort(); // the refused delete must not surface either
    expect(deleteSpy).toHaveBeenCalledTimes(1);
    expect((await blob(name).downloadToBuffer()).toString()).toBe('theirs');
  });

  test("another writer's staged blocks on the same name are left alone", async () => {
    const name = 'race/staging-meanwhile.bin';
    // Block ids of one blob must share a length: 43 bytes, like Strata's `<uuid>-<6 digits>`.
    const theirId = Buffer.from(`${'f'.repeat(36)}-000001`).toString('base64');
    await blob(name).stageBlock(theirId, Buffer.from('their block'), 11);
    const handle = await fs.open(`${container}/${name}`, 'wb');
    await handle.write(randomBytes(4 * blockSize));
    await handle.abort();
    await blob(name).commitBlockList([theirId]);
    expect((await blob(name).downloadToBuffer()).toString()).toBe('their block');
    expect(await staged(name), 'their commit discarded our blocks').toBe(0);
  });
});
