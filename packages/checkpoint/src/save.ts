import { createHash, type Hash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';

import { throwIfAborted, type FileSystem, type WriteHandle, type WriteMode } from '@strata/fs-core';

import { dtypeByteSize } from './dtypes.js';
import { isShared, sha256OnWorker } from './hashing.js';
import { UnstorableValueError } from './errors.js';
import { hasLoneSurrogate, type JsonValue } from './json.js';
import { buildHeader, inReferenceOrder, type HeaderEntry } from './safetensors.js';
import { withStorage, parentOf, type StorageCallOptions } from './storage.js';
import { STRATA_LIMIT_RATES, strataLimits, strataMetadata, strataText, type ManifestEntry } from './strata.js';
import { littleEndianSlice, tensorProblem, type Tensor } from './tensor.js';
import { encodeTree, escapeSegment, type FoundTensor } from './tree.js';

export interface SaveOptions extends StorageCallOptions {
  /** `'create'` refuses to replace an existing checkpoint (AlreadyExistsError). Default `'overwrite'`. */
  mode?: WriteMode | undefined;
  /** Called after each write with bytes written so far and the file's total size. */
  onProgress?: ((bytesDone: number, bytesTotal: number) => void) | undefined;
  /**
   * Awaited once every byte is written, just before the commit; a rejection aborts the save and
   * leaves the previous file. AsyncCheckpointIO uses it to commit saves in the order they were made.
   */
  beforeCommit?: (() => Promise<void>) | undefined;
}

/** Bytes hashed (and, while hashing, written) per step; a multiple of every element size. */
const CHUNK_BYTES = 4 << 20;
/**
 * Bytes per write once the digests are known: larger writes, because each one waits for a turn of
 * the event loop, and a background save (AsyncCheckpointIO) gets a turn only between training
 * steps. Little-endian hosts write views of the tensors, so this costs no memory.
 */
const WRITE_CHUNK_BYTES = 16 << 20;
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
}

export interface EncodedCheckpoint {
  tree: JsonValue;
  tensors: FoundTensor[];
  /** The tensor bytes are a private snapshot nobody else can change. */
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
  checkLoadable(tree, tensors);
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

/** Objects and arrays in a JSON value, and how many of them are objects. */
function countContainers(value: JsonValue): { containers: number; objects: number } {
  let containers = 0;
  let objects = 0;
  const stack: JsonValue[] = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    containers++;
    if (Array.isArray(v)) for (const child of v) stack.push(child);
    else {
      objects++;
      for (const k of Object.keys(v)) stack.push(v[k]!);
    }
  }
  return { containers, objects };
}

/**
 * Refuses a tree the loader would refuse: more objects and arrays than it accepts for the size of
 * the `strata` JSON (see strataLimits). Names the root key holding the most of them.
 */
function checkLoadable(tree: JsonValue, tensors: FoundTensor[]): void {
  // The manifest: its object and array, and per tensor an object and its shape.
  const counted = countContainers(tree);
  const containers = counted.containers + 2 + 2 * tensors.length;
  const objects = counted.objects + 1 + tensors.length;
  const floor = strataLimits(0);
  if (containers <= floor.maxContainers && objects <= floor.maxObjects) return;
  const manifest = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, sha256: PENDING_DIGEST }));
  const length = strataText(tree, manifest).length;
  const limits = strataLimits(length);
  if (containers <= limits.maxContainers && objects <= limits.maxObjects) return;
  const top = tree as Record<string, JsonValue>;
  const children = Object.keys(top).length === 1 && Object.hasOwn(top, '$object') ? (top['$object'] as Record<string, JsonValue>) : top;
  let worst = '';
  let worstCount = -1;
  for (const k of Object.keys(children)) {
    const n = countContainers(children[k]!).containers;
    if (n > worstCount) [worst, worstCount] = [k, n];
  }
  throw new UnstorableValueError(
    escapeSegment(worst),
    `the checkpoint encodes to ${containers} objects and arrays (${objects} of them objects; ${worstCount} under this key) in ${length} characters of JSON, ` +
      `but loading accepts at most ${limits.maxContainers} objects and arrays and ${limits.maxObjects} objects for that size (${STRATA_LIMIT_RATES.base} plus one per ${STRATA_LIMIT_RATES.charsPerContainer} characters; objects one per ${STRATA_LIMIT_RATES.charsPerObject})`,
  );
}

function* littleEndianChunks(data: ArrayBufferView, itemSize: number, chunkBytes = CHUNK_BYTES): Generator<Uint8Array> {
  const total = data.byteLength;
  if (total === 0) return;
  for (let offset = 0; offset < total; offset += chunkBytes) {
    yield littleEndianSlice(data, itemSize, offset, Math.min(total, offset + chunkBytes));
  }
}

/** Hashes each tensor's file bytes chunk by chunk into `digests`, yielding each chunk's size so a caller can pause. */
function* hashSteps(tensors: FoundTensor[], digests: string[]): Generator<number> {
  for (const t of tensors) {
    const hash = createHash('sha256');
    for (const chunk of littleEndianChunks(t.data, dtypeByteSize(t.dtype))) {
      hash.update(chunk);
      yield chunk.length;
    }
    digests.push(hash.digest('hex'));
  }
}

async function hashAll(tensors: FoundTensor[]): Promise<string[]> {
  const digests: string[] = [];
  let sinceYield = 0;
  for (const hashed of hashSteps(tensors, digests)) {
    sinceYield += hashed;
    if (sinceYield >= YIELD_EVERY_BYTES) {
      sinceYield = 0;
      await nextTurn();
    }
  }
  return digests;
}

function hashAllSync(tensors: FoundTensor[]): string[] {
  const digests: string[] = [];
  for (const _ of hashSteps(tensors, digests));
  return digests;
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
  return { header: bytes, tensors: entries, byteLength: bytes.length + dataByteLength };
}

/** Hashes tensors (yielding to the event loop now and then) and builds the header. */
async function prepareCheckpoint(encoded: EncodedCheckpoint): Promise<PreparedCheckpoint> {
  const ordered = inReferenceOrder(encoded.tensors);
  // Private snapshots (AsyncCheckpointIO) are hashed off the main thread so training keeps going.
  const offThread = encoded.owned && ordered.length > 0 && ordered.every((t) => isShared(t.data));
  const digests = offThread ? await sha256OnWorker(ordered.map((t) => t.data as Uint8Array)) : await hashAll(ordered);
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

/** Opens `path` for writing, runs `fill`, commits; on any error aborts, so the previous file stays intact. */
async function writeAtomically(fs: FileSystem, path: string, options: SaveOptions, fill: (handle: WriteHandle) => Promise<void>): Promise<void> {
  throwIfAborted(options.signal, { path, protocol: fs.protocol });
  if (fs.capabilities.emptyDirectories) {
    const parent = parentOf(path);
    if (parent !== undefined && parent !== '/') await fs.mkdir(parent, { parents: true, signal: options.signal });
  }
  const handle = await fs.open(path, options.mode === 'create' ? 'xb' : 'wb', { signal: options.signal });
  try {
    await fill(handle);
    await options.beforeCommit?.();
    await handle.commit();
  } catch (error) {
    await handle.abort().catch(() => undefined);
    throw error;
  }
}

/**
 * Header, then tensors in file order, through a CoalescingWriter. With `hashes`, each chunk is
 * hashed into its tensor's hash while the previous chunk is being written, so hashing overlaps I/O.
 */
async function streamTensors(handle: WriteHandle, prepared: PreparedCheckpoint, options: SaveOptions, where: { path: string; protocol: string }, hashes?: Hash[]): Promise<void> {
  const writer = new CoalescingWriter(handle, prepared.byteLength, options.onProgress, options.signal, where);
  await writer.write(prepared.header);
  let inFlight: Promise<void> = Promise.resolve();
  for (const [i, t] of prepared.tensors.entries()) {
    for (const chunk of littleEndianChunks(t.data, t.itemSize, hashes ? CHUNK_BYTES : WRITE_CHUNK_BYTES)) {
      hashes?.[i]!.update(chunk);
      // One write in flight: the writer's state changes only between awaited writes.
      await inFlight;
      inFlight = writer.write(chunk);
    }
  }
  await inFlight;
  await writer.flush();
  if (writer.written !== prepared.byteLength) {
    throw new Error(`Wrote ${writer.written} bytes but the checkpoint is ${prepared.byteLength} bytes; nothing was committed`);
  }
}

/** Digest placeholder of the final length, so the header's size does not change when it is filled in. */
const PENDING_DIGEST = '0'.repeat(64);
/** Python's safetensors cannot read a header holding one (JSON.stringify escapes it as `\\ud800`). */
const LONE_SURROGATE_REFUSAL = 'names and metadata must be valid Unicode (this one holds a lone surrogate), or Python cannot read the file';

/**
 * Hashes and writes an encoded checkpoint. The header holds every digest, so it must be known
 * before the first tensor byte goes out, which costs a hashing pass before any I/O. Where the
 * handle can patch the header's bytes (file and memory; S3 and Azure, which hold their first part
 * back until commit), tensors are instead hashed as they are written, under a header with
 * placeholder digests of the same length that is patched in before commit; the digests then match
 * the bytes written even if a caller changes a tensor meanwhile. Private snapshots keep the
 * worker-thread hashing, which spares the main thread.
 * Without patching, callers must not change tensors until the save settles (AsyncCheckpointIO
 * snapshots for them): a tensor changed after it was hashed is written as it is then, and loading
 * that file fails with CorruptCheckpointError ('digest-mismatch').
 */
export async function writeCheckpoint(encoded: EncodedCheckpoint, fs: FileSystem, path: string, options: SaveOptions = {}): Promise<void> {
  const where = { path, protocol: fs.protocol };
  const ordered = inReferenceOrder(encoded.tensors);
  let prepared: PreparedCheckpoint | undefined;
  await writeAtomically(fs, path, options, async (handle) => {
    const draft = encoded.owned || !handle.patch ? undefined : assemble(encoded, ordered, ordered.map(() => PENDING_DIGEST));
    if (!draft || draft.header.length > (handle.patchableBytes ?? Infinity)) {
      prepared ??= await prepareCheckpoint(encoded);
      return streamTensors(handle, prepared, options, where);
    }
    const hashes = ordered.map(() => createHash('sha256'));
    await streamTensors(handle, draft, options, where, hashes);
    const header = assemble(encoded, ordered, hashes.map((hash) => hash.digest('hex'))).header;
    if (header.length !== draft.header.length) throw new Error(`The header changed size (${draft.header.length} -> ${header.length} bytes); nothing was committed`);
    await handle.patch!(0, header);
  });
}

/**
 * Saves `checkpoint` as one safetensors file at `url`. Tensors and typed arrays anywhere in the
 * object become tensors named by key path; everything else is JSON in `__metadata__`.
 * Do not change the tensors until the promise settles (AsyncCheckpointIO snapshots for you).
 */
export async function saveCheckpoint(checkpoint: object, url: string, options: SaveOptions = {}): Promise<void> {
  const encoded = encodeCheckpoint(checkpoint);
  await withStorage(url, options, ({ fs, path }) => writeCheckpoint(encoded, fs, path, options));
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
    if (hasLoneSurrogate(name)) throw new UnstorableValueError(name, LONE_SURROGATE_REFUSAL);
    return { name, dtype: t.dtype, shape: [...t.shape], data: t.data };
  });
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`metadata[${JSON.stringify(k)}] must be a string`);
      if (hasLoneSurrogate(k) || hasLoneSurrogate(v)) throw new UnstorableValueError(`__metadata__.${k}`, LONE_SURROGATE_REFUSAL);
    }
  }
  const ordered = inReferenceOrder(found);
  const prepared: PreparedTensor[] = ordered.map((t) => ({
    ...t,
    byteLength: t.data.byteLength,
    itemSize: dtypeByteSize(t.dtype),
    sha256: '',
  }));
  const { bytes, dataByteLength } = buildHeader(prepared, metadata);
  return concat({ header: bytes, tensors: prepared, byteLength: bytes.length + dataByteLength });
}
