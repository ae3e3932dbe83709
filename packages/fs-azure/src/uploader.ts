import { randomUUID } from 'node:crypto';
import type { BlobRequestConditions, BlockBlobClient } from '@azure/storage-blob';
import { AbortError, AlreadyExistsError, NotSupportedError, type PartUploader, type WriteMode } from '@strata/fs-core';
import { toFsError, type ErrorContext } from './errors.js';
import type { SignedBlobRequests } from './signed-requests.js';

/** Azure's limit of committed blocks per blob. */
export const MAX_BLOCKS = 50_000;
/** Metadata key naming the upload that created a blob in create mode, to recognise our own commit on a retry. */
export const UPLOAD_ID_METADATA = 'strataupload';
/**
 * A date before any blob could have been committed. A Delete Blob sent `If-Unmodified-Since` it is
 * refused (412) by every committed blob, whose Last-Modified is later, while a name that holds only
 * staged blocks has no Last-Modified (Get Block List returns one only once something is committed)
 * and is deleted with its blocks.
 */
const BEFORE_ANY_COMMIT = new Date(Date.UTC(2000, 0, 1));

/** The blob a write goes to: its names, and its SDK client, made only when a request needs it. */
export interface BlobTarget {
  container: string;
  name: string;
  client(): BlockBlobClient;
}

/**
 * Block blob uploads for fs-core's PartWriter: one Put Blob for small data; otherwise every part
 * is staged as a block while the caller keeps writing, and Put Block List makes the blob visible
 * at commit. Until then a staged-only blob is invisible to reads and listings.
 */
export class AzureBlockUploader implements PartUploader {
  // Block ids are unique per upload: two writers staging "block 1" of the same blob must not
  // overwrite each other's data. All ids of one blob must have the same length.
  private readonly uploadId = randomUUID();
  /** Whether a block may have reached the service, so that abort() has something to clean up. */
  private staged = false;

  /** Blocks are named and listed at commit, so they may be staged in any order. */
  readonly partsInAnyOrder = true;

  constructor(
    private readonly target: BlobTarget,
    /** Sends a single Put Blob past the SDK's pipeline when the credentials allow (see SignedBlobRequests). */
    private readonly signed: SignedBlobRequests | undefined,
    private readonly mode: WriteMode,
    private readonly context: ErrorContext,
  ) {}

  private get conditions(): BlobRequestConditions | undefined {
    return this.mode === 'create' ? { ifNoneMatch: '*' } : undefined;
  }

  private get metadata(): Record<string, string> | undefined {
    return this.mode === 'create' ? { [UPLOAD_ID_METADATA]: this.uploadId } : undefined;
  }

  blockId(partNumber: number): string {
    return Buffer.from(`${this.uploadId}-${String(partNumber).padStart(6, '0')}`).toString('base64');
  }

  async putWhole(data: Uint8Array, signal?: AbortSignal, attempt = 1): Promise<void> {
    try {
      if (this.signed) await this.signed.put(this.target.container, this.target.name, data, this.mode === 'create', this.metadata, signal, { protocol: this.context.protocol, path: this.context.path, start: 0 });
      else await this.target.client().upload(data, data.length, { abortSignal: signal, conditions: this.conditions, metadata: this.metadata });
    } catch (error) {
      await this.settleCreateRetry(error, attempt, signal);
    }
  }

  async start(): Promise<void> {
    // Azure needs no upload session: blocks are staged straight onto the blob name.
  }

  async uploadPart(partNumber: number, data: Uint8Array, _isLast: boolean, signal?: AbortSignal): Promise<void> {
    if (partNumber > MAX_BLOCKS) {
      throw new NotSupportedError(
        this.context,
        `${this.context.protocol}://${this.context.path}: more than ${MAX_BLOCKS} blocks; use a larger blockSize for files this big`,
      );
    }
    this.staged = true;
    try {
      await this.target.client().stageBlock(this.blockId(partNumber), data, data.length, { abortSignal: signal });
    } catch (error) {
      throw toFsError(error, { ...this.context, signal });
    }
  }

  async complete(partCount: number, _totalBytes: number, signal?: AbortSignal, attempt = 1): Promise<void> {
    const blocks = Array.from({ length: partCount }, (_, i) => this.blockId(i + 1));
    try {
      await this.target.client().commitBlockList(blocks, { abortSignal: signal, conditions: this.conditions, metadata: this.metadata });
    } catch (error) {
      await this.settleCreateRetry(error, attempt, signal);
    }
  }

  /**
   * Best effort, never throws: whatever is left is invisible, and the service drops it at the blob's
   * next commit or a week after the last staged block.
   */
  async abort(signal?: AbortSignal): Promise<void> {
    if (!this.staged) return;
    try {
      await this.discardStagedBlocks(signal);
    } catch {
      // Left to the service's garbage collection (see above).
    }
  }

  /**
   * Azure has no call that drops staged blocks: only a commit or deleting the blob does. Committing
   * would rewrite a blob someone may be reading, so the blob is deleted, and only where that deletes
   * nothing but our own blocks. `signal` (PartWriter's cleanup bound) goes on every request: one
   * that stalls must not hang the caller.
   */
  private async discardStagedBlocks(signal?: AbortSignal): Promise<void> {
    const client = this.target.client();
    // A committed blob (the previous version, or another writer's result) is left alone, ETag and all;
    // its next commit discards our blocks.
    if (await client.exists({ abortSignal: signal })) return;
    const { uncommittedBlocks = [] } = await client.getBlockList('uncommitted', { abortSignal: signal });
    if (uncommittedBlocks.length === 0) return;
    // Another writer is staging blocks on this name too: deleting would discard them and fail its
    // commit, which will discard ours anyway.
    const ours = `${this.uploadId}-`;
    if (uncommittedBlocks.some((block) => !Buffer.from(block.name, 'base64').toString().startsWith(ours))) return;
    // The condition, not the check above, is what protects a blob committed in between: the service
    // then refuses the delete with 412.
    await client.delete({ abortSignal: signal, conditions: { ifUnmodifiedSince: BEFORE_ANY_COMMIT } });
  }

  /**
   * A create-only retry that finds the blob already there may be looking at its own earlier try,
   * whose answer was lost: the upload id in the metadata tells.
   */
  private async settleCreateRetry(error: unknown, attempt: number, signal?: AbortSignal): Promise<void> {
    const context = { ...this.context, signal };
    const mapped = toFsError(error, context);
    if (!(mapped instanceof AlreadyExistsError) || attempt <= 1) throw mapped;
    let properties;
    try {
      properties = await this.target.client().getProperties({ abortSignal: signal });
    } catch (checkError) {
      // A transient failure of the check proves nothing: let the retry policy ask again.
      const checkFailure = toFsError(checkError, { ...context, create: false });
      if (checkFailure.retryable || checkFailure instanceof AbortError) throw checkFailure;
      throw mapped;
    }
    if (properties.metadata?.[UPLOAD_ID_METADATA] === this.uploadId) return;
    throw mapped;
  }
}
