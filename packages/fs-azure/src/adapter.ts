import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlobBatch,
  BlobSASPermissions,
  type BlobBeginCopyFromUrlPollState,
  type BlobClient,
  type BlobItem,
  type BlockBlobClient,
  type BlobServiceClient,
  type ContainerClient,
} from '@azure/storage-blob';
import {
  AbortError,
  AlreadyExistsError,
  directoryMarker,
  discardBody,
  InvalidPathError,
  IsADirectoryError,
  NotFoundError,
  NotSupportedError,
  PartWriter,
  readBodyExactly,
  StorageError,
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
import { resolveConnection, signedRequestsFor, type AzureBlobOptions, type AzureConnection } from './connection.js';
import { statusOf, toFsError, type ErrorContext } from './errors.js';
import type { SignedBlobRequests } from './signed-requests.js';
import { AzureBlockUploader } from './uploader.js';
import { AZURE_PROTOCOLS, splitAccountSegment } from './url.js';

const MiB = 1024 * 1024;
const DEFAULT_BLOCK_SIZE = 8 * MiB;
const DEFAULT_UPLOAD_CONCURRENCY = 4;
const MAX_LIST_PAGE = 5000;
const MAX_SYNC_COPY = 256 * MiB;
/** Sub-requests per Blob Batch request (service limit). */
const BATCH_LIMIT = 256;
const FALLBACK_DELETE_CONCURRENCY = 8;
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
const COPY_POLL_MS = 500;
const MAX_CACHED_CONTAINERS = 64;

interface Location {
  container: string;
  blob: string;
}

/**
 * Azure Blob Storage (flat namespace) as a fs-core StorageAdapter. Paths are `container/blob`;
 * directories are virtual prefixes. fs-core derives the rest of the FileSystem API from this.
 */
export class AzureBlobAdapter implements StorageAdapter {
  readonly protocol: string;
  /** Protocols whose URLs this filesystem accepts too. */
  readonly aliases: string[];
  readonly capabilities: Capabilities;
  private readonly connection: AzureConnection;
  /** Get and Put Blob past the SDK's pipeline, where the credentials allow (see signedRequestsFor). */
  private readonly signed: SignedBlobRequests | undefined;
  private readonly blockSize: number;
  private readonly uploadConcurrency: number;
  private readonly listPageSize: number;
  private readonly syncCopyLimit: number;
  private batchDelete = true;
  private readonly containers = new Map<string, ContainerClient>();

  constructor(options: AzureBlobOptions = {}, protocol = 'az') {
    this.protocol = protocol;
    this.aliases = AZURE_PROTOCOLS.filter((p) => p !== protocol);
    this.connection = resolveConnection(options, protocol);
    this.signed = signedRequestsFor(this.connection);
    this.blockSize = positive(options.blockSize, DEFAULT_BLOCK_SIZE, 'blockSize');
    this.uploadConcurrency = positive(options.uploadConcurrency, DEFAULT_UPLOAD_CONCURRENCY, 'uploadConcurrency');
    this.listPageSize = Math.min(MAX_LIST_PAGE, positive(options.listPageSize, MAX_LIST_PAGE, 'listPageSize'));
    this.syncCopyLimit = Math.min(MAX_SYNC_COPY, Math.max(0, options.syncCopyLimit ?? MAX_SYNC_COPY));
    this.capabilities = {
      atomicCommit: true,
      conditionalCreate: true,
      rangeRead: true,
      emptyDirectories: false,
      sign: this.connection.sharedKey !== undefined,
      serverSideCopy: true,
      atomicMove: false,
    };
  }

  /** The account this filesystem talks to, when known before the first request. */
  get accountName(): string | undefined {
    return this.connection.accountName;
  }

  /** The underlying SDK client (resolves once @azure/identity has loaded, where it is used). */
  async serviceClient(): Promise<BlobServiceClient> {
    return this.connection.client;
  }

  /* ------------------------------ metadata ------------------------------ */

  async head(path: string, options: CallOptions): Promise<FileInfo> {
    const { container, blob } = this.locate(path);
    const containerClient = await this.containerClient(path, container);
    return this.call(path, container, { signal: options.signal }, async () => {
      if (!blob) {
        const p = await containerClient.getProperties({ abortSignal: options.signal });
        return { name: container, type: 'directory', size: 0, mtime: p.lastModified, etag: p.etag };
      }
      const p = await containerClient.getBlobClient(blob).getProperties({ abortSignal: options.signal });
      return {
        name: `${container}/${blob}`,
        type: 'file',
        size: p.contentLength ?? 0,
        mtime: p.lastModified,
        etag: p.etag,
        contentType: p.contentType,
      };
    });
  }

  async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    const { container, blob } = this.locate(path);
    const prefix = blob ? `${blob}/` : '';
    const containerClient = await this.containerClient(path, container);
    const pages = options.recursive
      ? containerClient.listBlobsFlat({ prefix, abortSignal: options.signal }).byPage({ maxPageSize: this.listPageSize })
      : containerClient.listBlobsByHierarchy('/', { prefix, abortSignal: options.signal }).byPage({ maxPageSize: this.listPageSize });
    try {
      for await (const page of pages) {
        const segment = page.segment as { blobItems: BlobItem[]; blobPrefixes?: { name: string }[] };
        // Names as stored, less the delimiter: fs-core drops the ones no normalised path reaches
        // (`a//b` lists `a/` here, which must not become `a` itself).
        for (const dir of segment.blobPrefixes ?? []) {
          yield { name: `${container}/${dir.name.slice(0, -1)}`, type: 'directory', size: 0 };
        }
        for (const item of segment.blobItems) {
          if (item.name.endsWith('/')) {
            yield directoryMarker(`${container}/${item.name}`, item.properties.lastModified);
            continue;
          }
          yield {
            name: `${container}/${item.name}`,
            type: 'file',
            size: item.properties.contentLength ?? 0,
            mtime: item.properties.lastModified,
            etag: quotedEtag(item.properties.etag),
            contentType: item.properties.contentType,
          };
        }
      }
    } catch (error) {
      throw this.error(error, path, container, { signal: options.signal });
    }
  }

  /* ------------------------------ reads ------------------------------ */

  async read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array> {
    const where = { protocol: this.protocol, path, start };
    const bytes = await this.download(path, start, end, options, {
      signed: (signed, container, blob, count) => signed.getBytes(container, blob, start, count, options.etag, options.signal, where),
      sdk: async (client, count, conditions) => {
        const { body, length } = await this.sdkDownload(client, start, count, options.signal, conditions);
        // One buffer of the announced length, filled as chunks arrive: the range is never held twice.
        return body ? readBodyExactly(body, length, where) : new Uint8Array(0);
      },
    });
    return bytes ?? new Uint8Array(0);
  }

  async *readStream(path: string, start: number, end: number | undefined, options: AdapterReadOptions): AsyncIterable<Uint8Array> {
    const body = await this.download(path, start, end, options, {
      signed: async (signed, container, blob, count) => (await signed.get(container, blob, start, count, options.etag, options.signal)).body,
      sdk: async (client, count, conditions) => (await this.sdkDownload(client, start, count, options.signal, conditions)).body,
    });
    if (!body) return;
    let finished = false;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) yield chunk;
      finished = true;
    } catch (error) {
      throw this.error(error, path, this.locate(path).container, readContext(options));
    } finally {
      // A consumer that stops early leaves the body half-read: drop it without an unhandled error.
      if (!finished) discardBody(body);
    }
  }

  /**
   * What `fetch` makes of Get Blob for bytes [start, end) (the bytes, or the body as a stream),
   * through the signed path or the SDK; undefined when there are no bytes to read. Errors are
   * mapped here, for both.
   */
  private async download<T>(
    path: string,
    start: number,
    end: number | undefined,
    options: AdapterReadOptions,
    fetch: {
      signed: (signed: SignedBlobRequests, container: string, blob: string, count: number | undefined) => Promise<T>;
      sdk: (client: BlobClient, count: number | undefined, conditions: { ifMatch: string } | undefined) => Promise<T>;
    },
  ): Promise<T | undefined> {
    const { container, blob } = this.locate(path);
    if (!blob) throw new IsADirectoryError({ path, protocol: this.protocol });
    const ctx = readContext(options);
    const conditions = options.etag === undefined ? undefined : { ifMatch: options.etag };
    const containerClient = await this.containerClient(path, container);
    // Made only for a request the SDK sends: building a client costs about a tenth of a small read.
    const client = () => containerClient.getBlobClient(blob);
    const count = end === undefined ? undefined : end - start;
    const checkBlob = () => this.call(path, container, ctx, () => client().getProperties({ abortSignal: options.signal, conditions }));
    if (count !== undefined && count <= 0) {
      await checkBlob();
      return undefined;
    }
    try {
      return this.signed ? await fetch.signed(this.signed, container, blob, count) : await fetch.sdk(client(), count, conditions);
    } catch (error) {
      if (statusOf(error) !== 416) throw this.error(error, path, container, ctx);
      // Range starts at or past the end: empty, once we know the blob (and its version) is still there.
      await checkBlob();
      return undefined;
    }
  }

  private async sdkDownload(client: BlobClient, start: number, count: number | undefined, signal: AbortSignal | undefined, conditions: { ifMatch: string } | undefined) {
    const response = await client.download(start, count, { abortSignal: signal, conditions });
    // The SDK refuses an answer without Content-Length, so this is the byte count promised.
    return { body: response.readableStreamBody as Readable | undefined, length: response.contentLength ?? 0 };
  }

  /* ------------------------------ writes ------------------------------ */

  async createWriter(path: string, mode: WriteMode, options: AdapterWriteOptions): Promise<AdapterWriter> {
    const { container, blob } = this.locate(path);
    if (!blob) throw new IsADirectoryError({ path, protocol: this.protocol }, `Cannot write a file at a container root: ${this.protocol}://${path}`);
    const create = mode === 'create';
    const containerClient = await this.containerClient(path, container);
    let blockBlob: BlockBlobClient | undefined;
    // Made only for a request the SDK sends (a signed Put Blob needs none).
    const target = { container, name: blob, client: () => (blockBlob ??= containerClient.getBlockBlobClient(blob)) };
    if (create) {
      // Fail fast before uploading gigabytes; the atomic decision is still If-None-Match at commit,
      // so this check runs under the retry policy like any other request.
      const exists = (signal: AbortSignal | undefined) => this.call(path, container, { signal }, () => target.client().exists({ abortSignal: signal }));
      const found = options.retry ? await options.retry.run(exists, options.signal) : await exists(options.signal);
      if (found) throw new AlreadyExistsError({ path, protocol: this.protocol });
    }
    const uploader = new AzureBlockUploader(target, this.signed, mode, this.context(path, container, { create }));
    return new PartWriter(uploader, { partSize: this.blockSize, concurrency: this.uploadConcurrency, retry: options.retry });
  }

  async remove(path: string, options: CallOptions): Promise<void> {
    const { container, blob } = this.locate(path);
    if (!blob) throw new IsADirectoryError({ path, protocol: this.protocol }, `Refusing to delete a container as a file: ${this.protocol}://${path}`);
    const client = (await this.containerClient(path, container)).getBlobClient(blob);
    await this.call(path, container, { signal: options.signal }, () => client.delete({ abortSignal: options.signal, deleteSnapshots: 'include' }));
  }

  /** Deletes with Blob Batch (256 per request, per container); blobs already gone count as deleted. */
  async removeMany(paths: string[], options: CallOptions): Promise<void> {
    const byContainer = new Map<string, { path: string; blob: string }[]>();
    for (const path of paths) {
      const { container, blob } = this.locate(path);
      if (!blob) throw new IsADirectoryError({ path, protocol: this.protocol });
      const entries = byContainer.get(container) ?? [];
      entries.push({ path, blob });
      byContainer.set(container, entries);
    }
    for (const [container, entries] of byContainer) {
      const containerClient = await this.containerClient(entries[0]!.path, container);
      for (let i = 0; i < entries.length; i += BATCH_LIMIT) {
        const chunk = entries.slice(i, i + BATCH_LIMIT);
        if (!this.batchDelete || chunk.length === 1 || !(await this.batchDeleteChunk(containerClient, chunk, options))) {
          await this.deleteEach(containerClient, chunk, options);
        }
      }
    }
  }

  /** false when this account cannot run batches (the caller then deletes one by one). */
  private async batchDeleteChunk(containerClient: ContainerClient, chunk: { path: string; blob: string }[], options: CallOptions): Promise<boolean> {
    const container = containerClient.containerName;
    let response;
    try {
      // Built here rather than with deleteBlobs(), which drops its options (the abort signal with
      // them) when given BlobClients: a stalled batch would then ignore the caller's signal.
      const batch = new BlobBatch();
      for (const e of chunk) await batch.deleteBlob(containerClient.getBlobClient(e.blob), { deleteSnapshots: 'include' });
      response = await containerClient.getBlobBatchClient().submitBatch(batch, { abortSignal: options.signal });
    } catch (error) {
      const mapped = this.error(error, chunk[0]!.path, container, { signal: options.signal });
      // An abort is the caller's answer, not a sign that batches are unsupported: no fallback.
      if (mapped.retryable || mapped instanceof NotFoundError || mapped instanceof AbortError) throw mapped;
      // Accounts or credentials that cannot batch (hierarchical namespace, some SAS scopes).
      const status = statusOf(error);
      if (status === 400 || status === 404 || status === 405 || status === 501) this.batchDelete = false;
      return false;
    }
    // Sub-responses come back in request order.
    for (const [index, sub] of response.subResponses.entries()) {
      if (sub.status < 300 || sub.status === 404) continue;
      const failure = Object.assign(new Error(sub.statusMessage), { statusCode: sub.status, code: sub.errorCode });
      throw this.error(failure, chunk[index]?.path ?? chunk[0]!.path, container);
    }
    return true;
  }

  private async deleteEach(containerClient: ContainerClient, chunk: { path: string; blob: string }[], options: CallOptions): Promise<void> {
    const queue = [...chunk];
    const worker = async () => {
      for (let entry = queue.shift(); entry; entry = queue.shift()) {
        try {
          await containerClient.getBlobClient(entry.blob).delete({ abortSignal: options.signal, deleteSnapshots: 'include' });
        } catch (error) {
          if (statusOf(error) !== 404 || (await this.containerMissing(containerClient))) {
            throw this.error(error, entry.path, containerClient.containerName, { signal: options.signal });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FALLBACK_DELETE_CONCURRENCY, chunk.length) }, worker));
  }

  private async containerMissing(containerClient: ContainerClient): Promise<boolean> {
    return !(await containerClient.exists().catch(() => true));
  }

  /** Creates the container for a bare container path; prefixes need no creation. */
  async makeDir(path: string, options: MkdirOptions): Promise<void> {
    const { container, blob } = this.locate(path);
    if (blob) return;
    try {
      await this.call(path, container, { signal: options.signal }, (service) => service.getContainerClient(container).create({ abortSignal: options.signal }));
    } catch (error) {
      if (!(error instanceof AlreadyExistsError) || options.parents === false) throw error;
    }
  }

  /* ------------------------------ copies ------------------------------ */

  /**
   * Server-side copy: Copy Blob From URL (synchronous) up to `syncCopyLimit`, else an
   * asynchronous Copy Blob polled to completion. The source is authorised with a read-only SAS
   * (shared key), the client's own SAS, or a bearer token (TokenCredential).
   */
  async copyFile(src: string, dst: string, options: CallOptions): Promise<void> {
    const from = this.locate(src);
    const to = this.locate(dst);
    if (!from.blob) throw new IsADirectoryError({ path: src, protocol: this.protocol });
    if (!to.blob) throw new IsADirectoryError({ path: dst, protocol: this.protocol });
    const source = (await this.containerClient(src, from.container)).getBlobClient(from.blob);
    const target = (await this.containerClient(dst, to.container)).getBlobClient(to.blob);
    const signal = { signal: options.signal };
    const { contentLength = 0 } = await this.call(src, from.container, signal, () => source.getProperties({ abortSignal: options.signal }));
    const sourceUrl = await this.call(src, from.container, {}, () => this.readableUrl(source));
    const sourceAuthorization = await this.call(src, from.container, {}, () => this.bearerForSource());

    if (contentLength <= this.syncCopyLimit) {
      await this.call(dst, to.container, signal, () => target.syncCopyFromURL(sourceUrl, { abortSignal: options.signal, sourceAuthorization }));
      return;
    }
    // Asynchronous Copy Blob: the service copies in the background; we poll the destination.
    const poller = await this.call(dst, to.container, signal, () => target.beginCopyFromURL(sourceUrl, { abortSignal: options.signal }));
    const started = poller.getOperationState() as BlobBeginCopyFromUrlPollState;
    let status: string | undefined = started.isCompleted ? 'success' : 'pending';
    try {
      while (status === 'pending') {
        await sleep(COPY_POLL_MS, options.signal);
        status = (await target.getProperties({ abortSignal: options.signal })).copyStatus;
      }
    } catch (error) {
      // Stop the server-side copy rather than leave it running after the caller gave up.
      if (started.copyId) await target.abortCopyFromURL(started.copyId).catch(() => undefined);
      throw this.error(error, dst, to.container, signal);
    }
    if (status !== 'success') {
      throw new StorageError({ path: dst, protocol: this.protocol }, `Copy to ${this.protocol}://${dst} ended with status "${status ?? 'unknown'}"`);
    }
  }

  private async readableUrl(blob: BlobClient): Promise<string> {
    if (!this.connection.sharedKey) return blob.url; // carries the client's SAS, if any
    // Long enough for an asynchronous copy of a large blob; the URL never leaves this process and the service.
    return blob.generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 24 * 3600_000) });
  }

  private async bearerForSource(): Promise<{ scheme: string; value: string } | undefined> {
    const credential = this.connection.tokenCredential;
    if (!credential) return undefined;
    const token = await credential.getToken(STORAGE_SCOPE);
    return token ? { scheme: 'Bearer', value: token.token } : undefined;
  }

  /* ------------------------------ misc ------------------------------ */

  /** A read-only SAS URL; needs the account key (shared key), as SAS tokens and OAuth cannot sign. */
  async sign(path: string, options: SignOptions): Promise<string> {
    const { container, blob } = this.locate(path);
    if (!this.connection.sharedKey) {
      throw new NotSupportedError(
        { path, protocol: this.protocol },
        `${this.protocol}://${path}: sign() needs an account key (connectionString with AccountKey, or accountName + accountKey); ` +
          'this filesystem authenticates with a SAS token or a TokenCredential',
      );
    }
    if (!blob) throw new IsADirectoryError({ path, protocol: this.protocol }, `Can only sign blobs, not a container: ${this.protocol}://${path}`);
    if (!(options.expiresIn > 0)) throw new InvalidPathError({ path, protocol: this.protocol }, `expiresIn must be a positive number of seconds`);
    return this.call(path, container, {}, (service) =>
      service.getContainerClient(container).getBlobClient(blob).generateSasUrl({
        permissions: BlobSASPermissions.parse('r'),
        expiresOn: new Date(Date.now() + options.expiresIn * 1000),
      }),
    );
  }

  /** Releases the sockets of the client this adapter built; an injected client stays its owner's. */
  async close(): Promise<void> {
    await this.signed?.close();
    this.connection.agent?.destroy();
  }

  /* ------------------------------ helpers ------------------------------ */

  /** `container/blob` for `container@account.dfs.core.windows.net/blob` (our account only), as listings name it. */
  canonicalPath(path: string): string {
    const slash = path.indexOf('/');
    if (!(slash === -1 ? path : path.slice(0, slash)).includes('@')) return path;
    const { container, blob } = this.locate(path);
    return blob ? `${container}/${blob}` : container;
  }

  /** `container/blob`, also from `container@account.dfs.core.windows.net/blob` when it names our account. */
  private locate(path: string): Location {
    const parts = splitAccountSegment(path, this.protocol);
    const ours = this.connection.accountName;
    if (parts.accountName && ours && parts.accountName !== ours.toLowerCase()) {
      throw new InvalidPathError(
        { path, protocol: this.protocol },
        `${this.protocol}://${path} names account "${parts.accountName}", but this filesystem is connected to account "${ours}"`,
      );
    }
    return { container: parts.container, blob: parts.remainder };
  }

  /** Kept per container: building one per request shows in small-object workloads. */
  private async containerClient(path: string, container: string): Promise<ContainerClient> {
    let client = this.containers.get(container);
    if (!client) {
      client = await this.call(path, container, {}, async (service) => service.getContainerClient(container));
      if (this.containers.size >= MAX_CACHED_CONTAINERS) this.containers.clear();
      this.containers.set(container, client);
    }
    return client;
  }

  private context(path: string, container: string | undefined, extra: Partial<ErrorContext>): ErrorContext {
    return { path, protocol: this.protocol, container, secrets: this.connection.secrets, ...extra };
  }

  private error(error: unknown, path: string, container?: string, extra: Partial<ErrorContext> = {}) {
    return toFsError(error, this.context(path, container, extra));
  }

  /** Runs one SDK call with the resolved client, mapping whatever it throws. */
  private async call<T>(path: string, container: string | undefined, extra: Partial<ErrorContext>, fn: (service: BlobServiceClient) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.connection.client);
    } catch (error) {
      throw this.error(error, path, container, extra);
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** How a read's errors map: a pinned version that changed is a ConflictError; the caller's abort an AbortError. */
function readContext(options: AdapterReadOptions): Partial<ErrorContext> {
  return { pinned: options.etag !== undefined, signal: options.signal };
}

/**
 * List Blobs spells an ETag bare (`0x8D…`) where Get Blob Properties quotes it (`"0x8D…"`): one
 * spelling, the HTTP one, so a listing's etag compares equal to info's and can go in If-Match.
 */
function quotedEtag(etag: string | undefined): string | undefined {
  return etag === undefined || etag.startsWith('"') ? etag : `"${etag}"`;
}
