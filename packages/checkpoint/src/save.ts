import { createHash, type Hash } from 'node:crypto';

import { throwIfAborted, type FileSystem, type WriteHandle, type WriteMode } from '@strata/fs-core';

import { dtypeByteSize } from './dtypes.js';
import { isShared, sha256OnWorker } from './hashing.js';
import { UnstorableValueError } from './errors.js';
import type { JsonValue } from './json.js';
import { buildHeader, inReferenceOrder, type HeaderEntry } from './safetensors.js';
import { withStorage, parentOf, type StorageCallOptions } from './storage.js';
import { strataMetadata, type ManifestEntry } from './strata.js';
import { littleEndianSlice, tensorProblem, type Tensor } from './tensor.js';
import { encodeTree, type FoundTensor } from './tree.js';

export interface SaveOptions extends StorageCallOptions {
  /** `'create'` refuses to replace an existing checkpoint (AlreadyExistsError). Default `'overwrite'`. */
  mode?: WriteMode | undefined;
  /** Called after each write with bytes written so far and the file's total size. */
  onProgress?: ((bytesDone: number, bytesTotal: number) => void) | undefined;
}

/** Bytes hashed or written per step; a multiple of every element size. */
const CHUNK_BYTES = 4 << 20;
/** Writes smaller than this are gathered into one buffer of this size before going out. */
const COALESCE_BYTES = 1 << 20;
/** Asynchronous hashing yields to the event loop after this many bytes. */
const YIELD_EVERY_BYTES = 16 << 20;

interface PreparedTensor extends HeaderEntry {
  data: ArrayBufferView;
  itemSize: number;
  sha256: string;
}

/** Everything needed to write a checkpoint: header bytes and tensors in file order. */
export interface PreparedCheckpoint {
  header: Uint8Array;
  tensors: PreparedTensor[];
  byteLength: number;
  /** The tensor bytes are a private snapshot nobody else can change. */
  owned: boolean;
}

interface EncodedCheckpoint {
  tree: JsonValue;
  tensors: FoundTensor[];
  owned: boolean;
}

/**
 * Walks and validates the checkpoint (throws UnstorableValueError before any I/O). With `copy`,
 * tensor bytes are snapshotted as little-endian file bytes so later changes to the caller's arrays
 * cannot reach the file.
 */
export function encodeCheckpoint(
  checkpoint: object,
  options: { copy?: boolean; allocate?: ((byteLength: number) => Uint8Array) | undefined } = {},
): EncodedCheckpoint {
  const { tree, tensors } = encodeTree(checkpoint);
  if (!options.copy) return { tree, tensors, owned: false };
  // Shared memory lets the hashing worker read the snapshot in place.
  const allocate = options.allocate ?? ((n: number) => new Uint8Array(new SharedArrayBuffer(n)));
  const copied = tensors.map((t) => {
    const itemSize = dtypeByteSize(t.dtype);
    const snapshot = allocate(t.data.byteLength);
    snapshot.set(littleEndianSlice(t.data, itemSize, 0, t.data.byteLength));
    return { ...t, data: snapshot };
  });
  return { tree, tensors: copied, owned: true };
}

function* littleEndianChunks(data: ArrayBufferView, itemSize: number): Generator<Uint8Array> {
  const total = data.byteLength;
  if (total === 0) return;
  for (let offset = 0; offset < total; offset += CHUNK_BYTES) {
    yield littleEndianSlice(data, itemSize, offset, Math.min(total, offset + CHUNK_BYTES));
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function hashAll(tensors: FoundTensor[], yieldToEventLoop: boolean): Promise<string[]> {
  const digests: string[] = [];
  let sinceYield = 0;
  for (const t of tensors) {
    const hash = createHash('sha256');
    for (const chunk of littleEndianChunks(t.data, dtypeByteSize(t.dtype))) {
      hash.update(chunk);
      sinceYield += chunk.length;
      if (yieldToEventLoop && sinceYield >= YIELD_EVERY_BYTES) {
        sinceYield = 0;
        await nextTurn();
      }
    }
    digests.push(hash.digest('hex'));
  }
  return digests;
}

function hashAllSync(tensors: FoundTensor[]): string[] {
  return tensors.map((t) => {
    const hash = createHash('sha256');
    for (const chunk of littleEndianChunks(t.data, dtypeByteSize(t.dtype))) hash.update(chunk);
    return hash.digest('hex');
  });
}

function assemble(encoded: EncodedCheckpoint, ordered: FoundTensor[], digests: string[]): PreparedCheckpoint {
  const manifest: ManifestEntry[] = ordered.map((t, i) => ({ name: t.name, dtype: t.dtype, shape: t.shape, sha256: digests[i]! }));
  const entries: PreparedTensor[] = ordered.map((t, i) => ({
    name: t.name,
    dtype: t.dtype,
    shape: t.shape,
    byteLength: t.data.byteLength,
    data: t.data,
    itemSize: dtypeByteSize(t.dtype),
    sha256: digests[i]!,
  }));
  const { bytes, dataByteLength } = buildHeader(entries, strataMetadata(encoded.tree, manifest));
  return { header: bytes, tensors: entries, byteLength: bytes.length + dataByteLength, owned: encoded.owned };
}

/** Hashes tensors (yielding to the event loop now and then) and builds the header. */
export async function prepareCheckpoint(encoded: EncodedCheckpoint): Promise<PreparedCheckpoint> {
  const ordered = inReferenceOrder(encoded.tensors);
  // Private snapshots (AsyncCheckpointIO) are hashed off the main thread so training keeps going.
  const offThread = encoded.owned && ordered.length > 0 && ordered.every((t) => isShared(t.data));
  const digests = offThread ? await sha256OnWorker(ordered.map((t) => t.data as Uint8Array)) : await hashAll(ordered, true);
  return assemble(encoded, ordered, digests);
}

function prepareCheckpointSync(encoded: EncodedCheckpoint): PreparedCheckpoint {
  const ordered = inReferenceOrder(encoded.tensors);
  return assemble(encoded, ordered, hashAllSync(ordered));
}

/** Gathers small writes into fresh bounded buffers; large chunks go out as views without copying. */
class CoalescingWriter {
  private buffer: Uint8Array | undefined;
  private filled = 0;
  written = 0;

  constructor(
    private readonly handle: WriteHandle,
    private readonly total: number,
    private readonly onProgress: SaveOptions['onProgress'],
    private readonly signal: AbortSignal | undefined,
    private readonly where: { path: string; protocol: string },
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length >= COALESCE_BYTES / 4) {
      await this.flush();
      await this.send(chunk);
      return;
    }
    if (this.buffer && this.filled + chunk.length > this.buffer.length) await this.flush();
    // A new buffer each time: the handle may still hold the previous one.
    this.buffer ??= new Uint8Array(COALESCE_BYTES);
    this.buffer.set(chunk, this.filled);
    this.filled += chunk.length;
  }

  async flush(): Promise<void> {
    if (!this.buffer || this.filled === 0) return;
    const data = this.buffer.subarray(0, this.filled);
    this.buffer = undefined;
    this.filled = 0;
    await this.send(data);
  }

  private async send(data: Uint8Array): Promise<void> {
    throwIfAborted(this.signal, this.where);
    await this.handle.write(data);
    this.written += data.length;
    this.onProgress?.(this.written, this.total);
  }
}

/**
 * Streams a prepared checkpoint through one write handle: header, then tensors in file order.
 * Commits only after the last byte; on any error aborts, so the previous file stays intact.
 * Unless the bytes are a private snapshot, each tensor is hashed again as it is written and the
 * save fails if it changed since the header was built (the file would not verify).
 */
export async function writePreparedCheckpoint(prepared: PreparedCheckpoint, fs: FileSystem, path: string, options: SaveOptions = {}): Promise<void> {
  const where = { path, protocol: fs.protocol };
  throwIfAborted(options.signal, where);
  if (fs.capabilities.emptyDirectories) {
    const parent = parentOf(path);
    if (parent !== undefined && parent !== '/') await fs.mkdir(parent, { parents: true, signal: options.signal });
  }
  const handle = await fs.open(path, options.mode === 'create' ? 'xb' : 'wb', { signal: options.signal });
  try {
    const writer = new CoalescingWriter(handle, prepared.byteLength, options.onProgress, options.signal, where);
    await writer.write(prepared.header);
    for (const t of prepared.tensors) {
      const check: Hash | undefined = prepared.owned ? undefined : createHash('sha256');
      for (const chunk of littleEndianChunks(t.data, t.itemSize)) {
        check?.update(chunk);
        await writer.write(chunk);
      }
      if (check && check.digest('hex') !== t.sha256) {
        throw new Error(`Tensor "${t.name}" changed while the checkpoint was being saved; nothing was committed to ${fs.protocol}://${path}`);
      }
    }
    await writer.flush();
    if (writer.written !== prepared.byteLength) {
      throw new Error(`Wrote ${writer.written} bytes but the checkpoint is ${prepared.byteLength} bytes; nothing was committed`);
    }
    await handle.commit();
  } catch (error) {
    await handle.abort().catch(() => undefined);
    throw error;
  }
}

/**
 * Saves `checkpoint` as one safetensors file at `url`. Tensors and typed arrays anywhere in the
 * object become tensors named by key path; everything else is JSON in `__metadata__`.
 * Do not change the tensors until the promise settles (AsyncCheckpointIO snapshots for you).
 */
export async function saveCheckpoint(checkpoint: object, url: string, options: SaveOptions = {}): Promise<void> {
  const encoded = encodeCheckpoint(checkpoint);
  const prepared = await prepareCheckpoint(encoded);
  await withStorage(url, options, ({ fs, path }) => writePreparedCheckpoint(prepared, fs, path, options));
}

/** The whole checkpoint file in memory (for tests, small objects, or sending elsewhere). */
export function serializeCheckpoint(checkpoint: object): Uint8Array {
  return concat(prepareCheckpointSync(encodeCheckpoint(checkpoint)));
}

function concat(prepared: PreparedCheckpoint): Uint8Array {
  const out = new Uint8Array(prepared.byteLength);
  out.set(prepared.header, 0);
  let offset = prepared.header.length;
  for (const t of prepared.tensors) {
    for (const chunk of littleEndianChunks(t.data, t.itemSize)) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
  }
  return out;
}

/**
 * A plain safetensors file (no Strata metadata) from a flat map of tensors, byte-identical to the
 * reference writer's output for the same tensors and (single-entry) metadata.
 */
export function serializeSafetensors(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const found = entries.map(([name, t]) => {
    const problem = tensorProblem(t);
    if (problem) throw new UnstorableValueError(name, `invalid tensor: ${problem}`);
    if (name === '__metadata__' || name === '__proto__') throw new UnstorableValueError(name, `a tensor cannot be named ${name}`);
    return { name, dtype: t.dtype, shape: [...t.shape], data: t.data };
  });
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new TypeError(`metadata[${JSON.stringify(k)}] must be a string`);
  }
  const ordered = inReferenceOrder(found);
  const prepared: PreparedTensor[] = ordered.map((t) => ({
    ...t,
    byteLength: t.data.byteLength,
    itemSize: dtypeByteSize(t.dtype),
    sha256: '',
  }));
  const { bytes, dataByteLength } = buildHeader(prepared, metadata);
  return concat({ header: bytes, tensors: prepared, byteLength: bytes.length + dataByteLength, owned: true });
}
