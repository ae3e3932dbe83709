import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  AccountSASPermissions,
  BlobBatchClient,
  BlobClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  InvalidPathError,
  IsADirectoryError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  ProtocolNotAvailableError,
  StorageError,
  urlToFs,
  type FileSystem,
} from '@strata/fs-core';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { AzureBlobAdapter, createFileSystem } from '../src/index.js';
import { loadDefaultCredential, resolveConnection } from '../src/connection.js';
import { SignedBlobRequests } from '../src/signed-requests.js';
import { AzureBlockUploader } from '../src/uploader.js';
import { azureFs, azurite, createContainer, deleteContainer, recordingFs, sdkClient, uniqueContainer } from './helpers.js';

const KiB = 1024;
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const isBatch = (req: IncomingMessage) => req.method === 'POST' && req.url?.includes('comp=batch') === true;

/** A loopback proxy to Azurite; `intercept` may answer a request itself (and return true), else it is forwarded. */
async function proxyToAzurite(intercept: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<{ proxy: Server; port: number }> {
  const target = new URL(azurite().blobEndpoint);
  const proxy = createServer((req, res) => {
    if (intercept(req, res)) return;
    const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { proxy, port: (proxy.address() as AddressInfo).port };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

let container: string;
let fs: FileSystem;

beforeAll(async () => {
  container = uniqueContainer('specific');
  await createContainer(container);
  fs = azureFs();
});

afterAll(async () => {
  await deleteContainer(container);
  await fs.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('block uploads', () => {
  test('a multi-block upload stages blocks while writing, commits them in order and reads back byte for byte', async () => {
    const blockSize = 64 * KiB;
    const small = azureFs({ blockSize, uploadConcurrency: 3 });
    const path = `${container}/blocks/multi.bin`;
    const data = randomBytes(10 * blockSize + 12_345);
    const handle = await small.open(path, 'wb');
    for (let offset = 0; offset < data.length; offset += 50_000) await handle.write(data.subarray(offset, offset + 50_000));

    const blob = sdkClient().getContainerClient(container).getBlockBlobClient('blocks/multi.bin');
    const staged = await blob.getBlockList('uncommitted');
    // 10 whole blocks were written; write() returns once a slot of the 3 in flight frees, so up to 3 may still be staging.
    expect(staged.uncommittedBlocks?.length, 'blocks staged before commit').toBeGreaterThanOrEqual(10 - 3);
    expect(await blob.exists(), 'invisible before commit').toBe(false);

    await handle.commit();
    const committed = await blob.getBlockList('committed');
    expect(committed.committedBlocks?.length).toBe(11);
    const ids = committed.committedBlocks!.map((b) => b.name);
    expect(new Set(ids.map((id) => id.length)).size, 'block ids share one length').toBe(1);
    const back = await small.cat(path);
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    expect(sha256(await small.cat(path, { start: blockSize - 10, end: 3 * blockSize + 7 }))).toBe(sha256(data.subarray(blockSize - 10, 3 * blockSize + 7)));
  });

  test('abort after staging blocks leaves no blob; aborting an overwrite keeps the old content', async () => {
    const small = azureFs({ blockSize: 64 * KiB, uploadConcurrency: 2 });
    const fresh = `${container}/aborted/new.bin`;
    const handle = await small.open(fresh, 'wb');
    await handle.write(randomBytes(4 * 64 * KiB));
    await handle.abort();
    expect(await small.exists(fresh)).toBe(false);
    await expect(small.info(fresh)).rejects.toBeInstanceOf(NotFoundError);
    const listed: string[] = [];
    for await (const item of sdkClient().getContainerClient(container).listBlobsFlat({ prefix: 'aborted/' })) listed.push(item.name);
    expect(listed).toEqual([]);

    const existing = `${container}/aborted/existing.txt`;
    await small.pipe(existing, 'old content');
    const over = await small.open(existing, 'wb');
    await over.write(randomBytes(3 * 64 * KiB));
    await over.abort();
    expect(text(await small.cat(existing))).toBe('old content');
  });

  test('create-only: two multi-block writers race on one path and exactly one wins', async () => {
    const small = azureFs({ blockSize: 64 * KiB });
    const path = `${container}/race/one.bin`;
    const a = randomBytes(5 * 64 * KiB + 1);
    const b = randomBytes(5 * 64 * KiB + 2);
    const [writerA, writerB] = await Promise.all([small.open(path, 'xb'), small.open(path, 'xb')]);
    await Promise.all([writerA.write(a), writerB.write(b)]);
    const results = await Promise.allSettled([writerA.commit(), writerB.commit()]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(AlreadyExistsError);
    const winner = results[0].status === 'fulfilled' ? a : b;
    expect(sha256(await small.cat(path))).toBe(sha256(winner));
  });

  test('create-only: eight small pipes race; exactly one wins and xb on an existing blob fails before uploading', async () => {
    const path = `${container}/race/small.txt`;
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => fs.pipe(path, `writer ${i}`, { mode: 'create' })));
    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
    expect(text(await fs.cat(path))).toBe(`writer ${winners[0]}`);
    await expect(fs.open(path, 'xb')).rejects.toBeInstanceOf(AlreadyExistsError);
  });

  test('a commit by another writer discards staged blocks: the slower overwrite fails with ConflictError', async () => {
    const small = azureFs({ blockSize: 64 * KiB });
    const path = `${container}/race/overwrite.bin`;
    const slow = await small.open(path, 'wb');
    await slow.write(randomBytes(2 * 64 * KiB + 5));
    const fastData = randomBytes(2 * 64 * KiB + 7);
    const fast = await small.open(path, 'wb');
    await fast.write(fastData);
    await fast.commit();
    await expect(slow.commit()).rejects.toBeInstanceOf(ConflictError);
    expect(sha256(await small.cat(path))).toBe(sha256(fastData));
  });

  test.each(['the SDK', 'a signed Put Blob'])('a retried create-only commit whose first answer was lost recognises its own blob (%s)', async (via) => {
    const service = sdkClient();
    const blobs = service.getContainerClient(container);
    const context = { protocol: 'az', path: `${container}/retry/x`, container, create: true };
    const signed = via === 'the SDK' ? undefined : new SignedBlobRequests(service.url.replace(/\/$/, ''), { sharedKey: service.credential as StorageSharedKeyCredential });
    const name = `retry/small-${signed ? 'signed' : 'sdk'}.txt`;

    const target = (blob: string) => ({ container, name: blob, client: () => blobs.getBlockBlobClient(blob) });
    const small = new AzureBlockUploader(target(name), signed, 'create', context);
    await small.putWhole(Buffer.from('first try landed'), undefined, 1);
    await small.putWhole(Buffer.from('first try landed'), undefined, 2); // the retry: our own blob, not a conflict
    const stranger = new AzureBlockUploader(target(name), signed, 'create', context);
    await expect(stranger.putWhole(Buffer.from('someone else'), undefined, 2)).rejects.toBeInstanceOf(AlreadyExistsError);
    await signed?.close();
    if (signed) return; // blocks are staged through the SDK either way

    const blocks = new AzureBlockUploader(target('retry/blocks.bin'), undefined, 'create', context);
    await blocks.uploadPart(1, randomBytes(1000), false);
    await blocks.uploadPart(2, randomBytes(10), true);
    await blocks.complete(2, 1010, undefined, 1);
    await blocks.complete(2, 1010, undefined, 2);
    await expect(blocks.complete(2, 1010, undefined, 1)).rejects.toBeInstanceOf(AlreadyExistsError); // a first try is never excused
    expect((await fs.info(`${container}/retry/blocks.bin`)).size).toBe(1010);
  });

  test('writing at a container root is refused', async () => {
    await expect(fs.pipe(container, 'x')).rejects.toBeInstanceOf(IsADirectoryError);
  });
});

describe('reads', () => {
  test('a read handle pins the ETag: an overwrite between reads is a ConflictError', async () => {
    const small = azureFs({ blockSize: 64 * KiB });
    const path = `${container}/pinned/file.bin`;
    await small.pipe(path, randomBytes(3 * 64 * KiB));
    const handle = await small.open(path, 'rb');
    expect((await handle.read(1000)).length).toBe(1000);
    await small.pipe(path, randomBytes(3 * 64 * KiB));
    handle.seek(2 * 64 * KiB);
    await expect(handle.read(1000)).rejects.toBeInstanceOf(ConflictError);
    await handle.close();
  });

  test('ranges past the end are empty; a missing blob and a missing container are NotFoundError naming them', async () => {
    await fs.pipe(`${container}/ranges/ten.txt`, '0123456789');
    expect(text(await fs.cat(`${container}/ranges/ten.txt`, { start: 4, end: 100 }))).toBe('456789');
    expect((await fs.cat(`${container}/ranges/ten.txt`, { start: 10 })).length).toBe(0);
    await fs.pipe(`${container}/ranges/empty.txt`, '');
    expect((await fs.cat(`${container}/ranges/empty.txt`)).length).toBe(0);

    const missing = await rejection(fs.cat(`${container}/ranges/nope.txt`));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toContain(`${container}/ranges/nope.txt`);
    const noContainer = await rejection(fs.info('fsaz-no-such-container/x'));
    expect(noContainer).toBeInstanceOf(NotFoundError);
    const bare = await rejection(fs.info('fsaz-no-such-container'));
    expect(bare).toBeInstanceOf(NotFoundError);
    expect((bare as Error).message).toContain('Container not found: az://fsaz-no-such-container');
    expect(await fs.exists('fsaz-no-such-container/x')).toBe(false);
    expect((await fs.info(container)).type).toBe('directory');
  });
});

describe('listings', () => {
  test('folder markers from other tools are directories, never files', async () => {
    const blobs = sdkClient().getContainerClient(container);
    await blobs.getBlockBlobClient('markers/dir/').upload('', 0);
    await blobs.getBlockBlobClient('markers/dir/inner.txt').upload('x', 1);
    await blobs.getBlockBlobClient('markers/empty/').upload('', 0);
    const ls = await fs.ls(`${container}/markers`);
    expect(ls.map((e) => [e.name, e.type])).toEqual([
      [`${container}/markers/dir`, 'directory'],
      [`${container}/markers/empty`, 'directory'],
    ]);
    expect(await fs.ls(`${container}/markers/dir`)).toMatchObject([{ name: `${container}/markers/dir/inner.txt`, type: 'file', size: 1 }]);
    expect(await fs.find(`${container}/markers`)).toEqual([`${container}/markers/dir/inner.txt`]);
  });
});

describe('copies and deletes', () => {
  test('cp is server-side: synchronous copy for small blobs, asynchronous copy with polling above syncCopyLimit', async () => {
    const data = randomBytes(300 * KiB);
    await fs.pipe(`${container}/copy/src.bin`, data);
    // Azurite answers both kinds of copy at once, so only the calls tell which one was made.
    const syncCopy = vi.spyOn(BlobClient.prototype, 'syncCopyFromURL');
    const asyncCopy = vi.spyOn(BlobClient.prototype, 'beginCopyFromURL');
    await fs.cp(`${container}/copy/src.bin`, `${container}/copy/sync.bin`);
    expect(sha256(await fs.cat(`${container}/copy/sync.bin`))).toBe(sha256(data));
    expect([syncCopy.mock.calls.length, asyncCopy.mock.calls.length], 'Copy Blob From URL below syncCopyLimit').toEqual([1, 0]);

    const asyncCopies = azureFs({ syncCopyLimit: 0 });
    await asyncCopies.cp(`${container}/copy/src.bin`, `${container}/copy/async.bin`);
    expect(sha256(await fs.cat(`${container}/copy/async.bin`))).toBe(sha256(data));
    expect([syncCopy.mock.calls.length, asyncCopy.mock.calls.length], 'Copy Blob above syncCopyLimit').toEqual([1, 1]);
    const props = await sdkClient().getContainerClient(container).getBlobClient('copy/async.bin').getProperties();
    expect(props.copyStatus, 'went through Copy Blob').toBe('success');

    await expect(fs.cp(`${container}/copy/missing.bin`, `${container}/copy/x.bin`)).rejects.toBeInstanceOf(NotFoundError);
  });

  test('rm -r of 300 blobs deletes in batches (no per-blob DELETE) and leaves a sibling prefix alone', async () => {
    const blobs = sdkClient().getContainerClient(container);
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => blobs.getBlockBlobClient(`bulk/f${String(i).padStart(4, '0')}`).upload('x', 1)),
    );
    await blobs.getBlockBlobClient('bulk-sibling/keep').upload('k', 1);
    const { fs: injected, seen } = recordingFs();
    await injected.rm(`${container}/bulk`, { recursive: true });
    expect(seen.filter((r) => r === 'POST batch')).toHaveLength(2);
    expect(seen.filter((r) => r.startsWith('DELETE'))).toHaveLength(0);
    expect(await fs.find(`${container}/bulk`)).toEqual([]);
    expect(await fs.exists(`${container}/bulk-sibling/keep`)).toBe(true);
  });

  test('an account that refuses Blob Batch falls back to parallel single deletes', async () => {
    let batchAttempts = 0;
    let singleDeletes = 0;
    // Answers every batch request like an account without batch support.
    const { proxy, port } = await proxyToAzurite((req, res) => {
      if (req.method === 'DELETE') singleDeletes++;
      if (!isBatch(req)) return false;
      batchAttempts++;
      req.resume();
      res.writeHead(400, { 'x-ms-error-code': 'FeatureNotSupported' }).end();
      return true;
    });
    try {
      const blobs = sdkClient().getContainerClient(container);
      await Promise.all(Array.from({ length: 20 }, (_, i) => blobs.getBlockBlobClient(`nobatch/f${i}`).upload('x', 1)));
      const { accountName, accountKey } = azurite();
      const viaProxy = createFileSystem({ accountName, accountKey, blobEndpoint: `http://127.0.0.1:${port}/${accountName}` });
      await viaProxy.rm(`${container}/nobatch`, { recursive: true });
      await fs.pipe(`${container}/nobatch2/a`, 'a');
      await fs.pipe(`${container}/nobatch2/b`, 'b');
      await viaProxy.rm(`${container}/nobatch2`, { recursive: true });
      expect(batchAttempts, 'batch tried once, then remembered as unsupported').toBe(1);
      expect(singleDeletes).toBe(22);
      expect(await fs.find(`${container}/nobatch`)).toEqual([]);
      expect(await fs.find(`${container}/nobatch2`)).toEqual([]);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  test("rm -r gives up on a Blob Batch that never answers when the caller's signal fires", async () => {
    const held: ServerResponse[] = [];
    // Never answers a batch request.
    const { proxy, port } = await proxyToAzurite((req, res) => {
      if (!isBatch(req)) return false;
      req.resume();
      held.push(res);
      return true;
    });
    const { accountName, accountKey } = azurite();
    const viaProxy = createFileSystem({ accountName, accountKey, blobEndpoint: `http://127.0.0.1:${port}/${accountName}` });
    try {
      for (let i = 0; i < 3; i++) await fs.pipe(`${container}/stalled-batch/f${i}`, 'x');
      const started = Date.now();
      const error = await rejection(viaProxy.rm(`${container}/stalled-batch`, { recursive: true, signal: AbortSignal.timeout(500) }));
      expect(error).toBeInstanceOf(AbortError);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(held.length, 'the batch request reached the server').toBe(1);
    } finally {
      await viaProxy.close();
      for (const res of held) res.destroy();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  test('removeMany treats blobs that are already gone as deleted', async () => {
    const adapter = new AzureBlobAdapter({ connectionString: azurite().connectionString });
    await fs.pipe(`${container}/gone/a`, 'a');
    await adapter.removeMany([`${container}/gone/a`, `${container}/gone/never-existed`], {});
    expect(await fs.exists(`${container}/gone/a`)).toBe(false);
  });
});

describe('credentials and errors', () => {
  test('a wrong account key is PermissionDeniedError from exists, cat and ls, and the key is not in the message', async () => {
    const { accountName, blobEndpoint } = azurite();
    const wrongKey = randomBytes(64).toString('base64');
    const bad = createFileSystem({ accountName, accountKey: wrongKey, blobEndpoint });
    await fs.pipe(`${container}/auth/file.txt`, 'secret data');
    for (const call of [
      () => bad.exists(`${container}/auth/file.txt`),
      () => bad.cat(`${container}/auth/file.txt`),
      () => bad.ls(`${container}/auth`),
      () => bad.exists(`${container}/auth/missing.txt`),
    ]) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(PermissionDeniedError);
      expect((error as Error).message).not.toContain(wrongKey);
      expect(inspect(error, { depth: 8 })).not.toContain(wrongKey);
    }
  });

  test('a SAS-token filesystem works (batch deletes included), cannot sign, and never prints the signature', async () => {
    const { accountName, blobEndpoint } = azurite();
    const service = sdkClient();
    const accountSas = new URL(
      service.generateAccountSasUrl(new Date(Date.now() + 3600_000), AccountSASPermissions.parse('rwdlac'), 'sco'),
    ).search;
    const signature = new URLSearchParams(accountSas).get('sig')!;
    const viaSas = createFileSystem({ accountName, sasToken: accountSas, blobEndpoint });
    expect(viaSas.capabilities.sign).toBe(false);
    await viaSas.pipe(`${container}/sas/a.txt`, 'via sas');
    await viaSas.pipe(`${container}/sas/b.txt`, 'via sas');
    expect(text(await viaSas.cat(`${container}/sas/a.txt`))).toBe('via sas');
    await viaSas.cp(`${container}/sas/a.txt`, `${container}/sas/c.txt`);
    expect(text(await viaSas.cat(`${container}/sas/c.txt`))).toBe('via sas');
    await expect(viaSas.sign!(`${container}/sas/a.txt`, { expiresIn: 60 })).rejects.toBeInstanceOf(NotSupportedError);

    const missing = await rejection(viaSas.cat(`${container}/sas/missing.txt`));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).not.toContain(signature);
    expect(inspect(missing, { depth: 8 })).not.toContain(signature);

    // A container-scoped SAS: batches must be container-level requests.
    const containerSas = new URL(
      await service.getContainerClient(container).generateSasUrl({
        permissions: ContainerSASPermissions.parse('rwdl'),
        expiresOn: new Date(Date.now() + 3600_000),
      }),
    ).search;
    const scoped = createFileSystem({ accountName, sasToken: containerSas, blobEndpoint });
    // A refused batch falls back to one DELETE per blob, which would pass unnoticed without this.
    const batches = vi.spyOn(BlobBatchClient.prototype, 'submitBatch');
    await scoped.rm(`${container}/sas`, { recursive: true });
    expect(await fs.find(`${container}/sas`)).toEqual([]);
    expect(batches, 'one batch for the three blobs').toHaveBeenCalledTimes(1);
    await expect(batches.mock.results[0]!.value, 'the batch was accepted').resolves.toBeDefined();
  });

  test('sign() returns a read-only SAS URL that plain fetch can download', async () => {
    const path = `${container}/signed/hello.txt`;
    await fs.pipe(path, 'hello, signed world');
    expect(fs.capabilities.sign).toBe(true);
    const url = await fs.sign!(path, { expiresIn: 120 });
    expect(url).toContain('sig=');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello, signed world');
    const put = await fetch(url, { method: 'PUT', body: 'nope', headers: { 'x-ms-blob-type': 'BlockBlob' } });
    expect(put.status, 'the SAS is read-only').toBe(403);
  });

  test('configuration comes from the environment when options are empty', async () => {
    const names = ['AZURE_STORAGE_CONNECTION_STRING', 'AZURE_STORAGE_ACCOUNT_NAME', 'AZURE_STORAGE_ACCOUNT_KEY', 'AZURE_STORAGE_SAS_TOKEN'];
    const saved = names.map((name) => [name, process.env[name]] as const);
    try {
      process.env.AZURE_STORAGE_CONNECTION_STRING = azurite().connectionString;
      const fromEnv = createFileSystem();
      await fromEnv.pipe(`${container}/env/cs.txt`, 'from env');
      expect(text(await fs.cat(`${container}/env/cs.txt`))).toBe('from env');

      delete process.env.AZURE_STORAGE_CONNECTION_STRING;
      process.env.AZURE_STORAGE_ACCOUNT_NAME = azurite().accountName;
      process.env.AZURE_STORAGE_ACCOUNT_KEY = azurite().accountKey;
      const fromKey = createFileSystem({ blobEndpoint: azurite().blobEndpoint });
      expect(fromKey.capabilities.sign).toBe(true);
      expect(text(await fromKey.cat(`${container}/env/cs.txt`))).toBe('from env');

      // The environment's key belongs to its account and is not sent to another one.
      const other = resolveConnection({ accountName: 'someotheraccount' }, 'az', process.env, '@azure/identity-not-installed');
      expect(other.sharedKey).toBeUndefined();
      await expect(other.client).rejects.toBeInstanceOf(ProtocolNotAvailableError);
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('only an account name: DefaultAzureCredential if @azure/identity is installed, else an error saying to install it', async () => {
    const connection = resolveConnection({ accountName: 'someaccount' }, 'az', {});
    const client = await connection.client; // builds the credential; no token is requested
    expect(client.credential.constructor.name).toBe('DefaultAzureCredential');
    expect(client.url).toMatch(/^https:\/\/someaccount\.blob\.core\.windows\.net\/?$/);

    const missing = await rejection(loadDefaultCredential('az', 'someaccount', '@azure/identity-not-installed'));
    expect(missing).toBeInstanceOf(ProtocolNotAvailableError);
    expect((missing as Error).message).toContain('npm install @azure/identity');

    expect(() => resolveConnection({}, 'az', {})).toThrow(ProtocolNotAvailableError);
  });

  test('the SDK tries once; fs-core retries 503 ServerBusy per its policy, then reports a retryable StorageError', async () => {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.writeHead(503, { 'x-ms-error-code': 'ServerBusy', 'retry-after': '0' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const busy = createFileSystem({
        accountName: 'devstoreaccount1',
        accountKey: azurite().accountKey,
        blobEndpoint: `http://127.0.0.1:${port}/devstoreaccount1`,
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      });
      const error = await rejection(busy.info('c/x.txt'));
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).retryable).toBe(true);
      expect(requests).toBe(3);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a refused connection is a retryable StorageError', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve)); // the port is now closed
    const down = createFileSystem({
      accountName: 'devstoreaccount1',
      accountKey: azurite().accountKey,
      blobEndpoint: `http://127.0.0.1:${port}/devstoreaccount1`,
      retry: { attempts: 1 },
    });
    const error = await rejection(down.cat('c/x.txt'));
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).retryable).toBe(true);
  });
});

describe('abfs URLs and protocols', () => {
  test('abfs://container@account.dfs.core.windows.net/path works on a filesystem for that account and is refused for another', async () => {
    const abfs = azureFs({}, 'abfs');
    const url = `abfs://${container}@devstoreaccount1.dfs.core.windows.net/abfs/file.txt`;
    await abfs.pipe(url, 'via abfs url');
    expect(text(await fs.cat(`${container}/abfs/file.txt`))).toBe('via abfs url');
    expect(text(await abfs.cat(`az://${container}/abfs/file.txt`))).toBe('via abfs url');
    expect((await abfs.ls(`abfs://${container}@devstoreaccount1.dfs.core.windows.net/abfs`)).map((e) => e.name)).toEqual([
      `${container}/abfs/file.txt`,
    ]);
    await expect(abfs.cat(`abfs://${container}@otheraccount.dfs.core.windows.net/abfs/file.txt`)).rejects.toBeInstanceOf(InvalidPathError);
    expect(abfs.protocol).toBe('abfs');
  });

  test('an account URL means the same path as container/key in every call: glob, find, walk, cp, mv and get keep every file', async () => {
    const abfs = azureFs({}, 'abfs');
    const at = `abfs://${container}@devstoreaccount1.dfs.core.windows.net/acct`;
    const plain = `${container}/acct`;
    await abfs.pipe(`${at}/d/k.txt`, 'k');
    await abfs.pipe(`${at}/d/sub/j.txt`, 'j');
    expect((await abfs.info(`${at}/d`)).name).toBe(`${plain}/d`);
    expect(await abfs.glob(`${at}/d/*`)).toEqual([`${plain}/d/k.txt`, `${plain}/d/sub`]);
    expect(await abfs.find(`${at}/d`, { withDirs: true })).toEqual([`${plain}/d`, `${plain}/d/k.txt`, `${plain}/d/sub`, `${plain}/d/sub/j.txt`]);
    const roots: string[] = [];
    for await (const entry of abfs.walk(`${at}/d`)) roots.push(entry.root);
    expect(roots).toEqual([`${plain}/d`, `${plain}/d/sub`]);

    await abfs.cp(`${at}/d`, `${at}/copy`, { recursive: true });
    expect(await abfs.find(`${plain}/copy`)).toEqual([`${plain}/copy/k.txt`, `${plain}/copy/sub/j.txt`]);
    await abfs.mv(`${at}/copy`, `${at}/moved`, { recursive: true });
    expect(await abfs.find(`${plain}/moved`)).toEqual([`${plain}/moved/k.txt`, `${plain}/moved/sub/j.txt`]);
    expect(text(await abfs.cat(`${plain}/moved/sub/j.txt`))).toBe('j');
    // A move onto itself, spelled the other way, does nothing (it used to copy, then delete the only copy).
    await abfs.mv(`${at}/d/k.txt`, `${plain}/d/k.txt`);
    expect(text(await abfs.cat(`${plain}/d/k.txt`))).toBe('k');

    const local = await mkdtemp(join(tmpdir(), 'strata-abfs-'));
    try {
      await abfs.get(`${at}/d/`, `${local}/`, { recursive: true });
      expect(await readFile(join(local, 'sub', 'j.txt'), 'utf8')).toBe('j');
      expect(await readFile(join(local, 'k.txt'), 'utf8')).toBe('k');
    } finally {
      await rm(local, { recursive: true, force: true });
    }
  });

  test('the registry loads this package for az:// URLs', async () => {
    await fs.pipe(`${container}/registry/x.txt`, 'registry');
    const { fs: viaRegistry, path } = await urlToFs(`az://${container}/registry/x.txt`, { az: { connectionString: azurite().connectionString } });
    expect(path).toBe(`${container}/registry/x.txt`);
    expect(text(await viaRegistry.cat(path))).toBe('registry');
  });
});
