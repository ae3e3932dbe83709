import { availableParallelism } from 'node:os';

import { ConflictError, IsADirectoryError, NotSupportedError, type FileInfo, type FileSystem } from '@strata/fs-core';
import pLimit from 'p-limit';

import { isDType, type DType, type FileDType } from './dtypes.js';
import { CorruptCheckpointError } from './errors.js';
import { hashWorkerBusy, isWholeBuffer, sha256SlicesOnWorker } from './hashing.js';
import { LENGTH_PREFIX_BYTES, parseHeader, readHeaderLength, type HeaderTensor, type SafetensorsHeader } from './safetensors.js';
import { withStorage, type StorageCallOptions } from './storage.js';
import { FORMAT, readStrata, sha256Hex, type StrataContent } from './strata.js';
import { elementsFromLittleEndian, type Tensor } from './tensor.js';
import { decodeTree } from './tree.js';

export interface LoadOptions extends StorageCallOptions {
  /**
   * Loads only the tensors whose name (as listed by readCheckpointInfo) passes. Only their byte
   * ranges are read. Tensors left out are absent from objects, Maps and Sets, `undefined` in arrays.
   */
  keys?: ((name: string) => boolean) | undefined;
}

export interface TensorInfo {
  name: string;
  /** A ForeignDType (float8, float4/6, complex64) is listed, but loading that tensor fails. */
  dtype: FileDType;
  shape: number[];
  byteLength: number;
  /** `[begin, end)` relative to the data region, as in the file. */
  dataOffsets: [number, number];
  /** Hex SHA-256 of the tensor's bytes (Strata checkpoints only). */
  sha256?: string | undefined;
}

export interface CheckpointInfo {
  /** `'strata-checkpoint'` for files written by saveCheckpoint, `'safetensors'` for any other valid file. */
  format: typeof FORMAT | 'safetensors';
  /** Strata format version, for Strata checkpoints. */
  version: number | undefined;
  /** The raw `__metadata__` string map ({} when the file has none). */
  metadata: Record<string, string>;
  /** In file order. */
  tensors: TensorInfo[];
  headerByteLength: number;
  fileByteLength: number;
}

/** First read of a file: enough for the header of most checkpoints in one request. */
export const HEADER_PROBE_BYTES = 64 << 10;
/** Adjacent selected tensors are read in one request up to this size. */
export const MAX_RANGE_BYTES = 64 << 20;
/** A file replaced while it is being read is read again, this many times in all. */
const CONFLICT_ATTEMPTS = 3;
/** Ranges at least this large may be hashed on the worker thread while this one hashes others. */
const OFF_THREAD_MIN_BYTES = 4 << 20;
const offThreadHashing = availableParallelism() > 1;

/* ------------------------------------------------------------------ */
/* Shared by the in-memory and storage paths                           */
/* ------------------------------------------------------------------ */

type LoadableTensor = HeaderTensor & { dtype: DType };

/**
 * The tensors `keys` selects. A selected tensor of a dtype Strata cannot represent is refused with
 * NotSupportedError (not corrupt: the file is valid), before any tensor is read.
 */
function selectTensors(header: SafetensorsHeader, keys: LoadOptions['keys'], where?: { path: string; protocol: string }): LoadableTensor[] {
  const selected = keys ? header.tensors.filter((t) => keys(t.name)) : header.tensors;
  const foreign = selected.find((t) => !isDType(t.dtype));
  if (foreign) {
    const location = where ? `: ${where.protocol}://${where.path}` : '';
    throw new NotSupportedError(
      where ?? {},
      `Tensor ${JSON.stringify(foreign.name)} has dtype ${foreign.dtype}, which Strata can list but not load; select the other tensors with \`keys\`${location}`,
    );
  }
  return selected as LoadableTensor[];
}

/** Throws CorruptCheckpointError unless a Strata tensor's bytes match the manifest's SHA-256. */
function verifyTensor(strata: StrataContent | undefined, t: HeaderTensor, bytes: Uint8Array): void {
  if (strata) checkDigest(strata, t, sha256Hex(bytes));
}

function checkDigest(strata: StrataContent, t: HeaderTensor, actual: string): void {
  const expected = strata.byName.get(t.name)!.sha256;
  if (actual !== expected) {
    throw new CorruptCheckpointError('digest-mismatch', `tensor ${JSON.stringify(t.name)} hashes to ${actual}, the manifest says ${expected}`);
  }
}

/** `bytesOf` must return verified bytes (see verifyTensor). */
function buildCheckpoint(
  header: SafetensorsHeader,
  strata: StrataContent | undefined,
  selected: LoadableTensor[],
  bytesOf: (t: HeaderTensor) => Uint8Array,
): Record<string, unknown> {
  const loaded = new Map<string, Tensor>();
  for (const t of selected) {
    const data = elementsFromLittleEndian(t.dtype, bytesOf(t));
    // A Strata file's BOOL bytes passed the digest of bytes its writer checked to be 0 or 1.
    loaded.set(t.name, { dtype: t.dtype, shape: [...t.shape], data: t.dtype === 'BOOL' && !strata ? asZeroOrOne(data as Uint8Array) : data });
  }
  if (!strata) {
    const flat: Record<string, unknown> = {};
    for (const [name, t] of loaded) Object.defineProperty(flat, name, { value: t, writable: true, enumerable: true, configurable: true });
    return flat;
  }
  return decodeTree(strata.tree, { header: (name) => header.byName.get(name), loaded: (name) => loaded.get(name) });
}

function describeHeader(header: SafetensorsHeader, strata: StrataContent | undefined): CheckpointInfo {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(header.metadata ?? {})) Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
  return {
    format: strata ? FORMAT : 'safetensors',
    version: strata?.version,
    metadata,
    tensors: header.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: [...t.shape],
      byteLength: t.end - t.begin,
      dataOffsets: [t.begin, t.end],
      ...(strata ? { sha256: strata.byName.get(t.name)!.sha256 } : {}),
    })),
    headerByteLength: header.headerByteLength,
    fileByteLength: header.fileByteLength,
  };
}

function headerOfBytes(bytes: Uint8Array): SafetensorsHeader {
  const n = readHeaderLength(bytes, bytes.length);
  return parseHeader(bytes.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + n), bytes.length);
}

/**
 * Loads a checkpoint (or plain safetensors file) held in memory. Aligned tensors are views into
 * `bytes`, so they share its memory.
 */
export function deserializeCheckpoint(bytes: Uint8Array, options: Pick<LoadOptions, 'keys'> = {}): Record<string, unknown> {
  const header = headerOfBytes(bytes);
  const strata = readStrata(header);
  return buildCheckpoint(header, strata, selectTensors(header, options.keys), (t) => {
    const data = bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end);
    verifyTensor(strata, t, data);
    return data;
  });
}

/**
 * Python's writers store a BOOL tensor's bytes unchecked, and numpy reads any nonzero byte as True:
 * Strata's BOOL holds 0 or 1 only, so other bytes load as 1 (in a copy: the bytes may be the caller's).
 */
function asZeroOrOne(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length && bytes[i]! <= 1) i++;
  if (i === bytes.length) return bytes;
  const copy = bytes.slice();
  for (; i < copy.length; i++) if (copy[i]! > 1) copy[i] = 1;
  return copy;
}

/** The header of an in-memory file, validated and (for Strata checkpoints) digest-checked. */
export function readCheckpointInfoFromBytes(bytes: Uint8Array): CheckpointInfo {
  const header = headerOfBytes(bytes);
  return describeHeader(header, readStrata(header));
}

/* ------------------------------------------------------------------ */
/* Storage                                                             */
/* ------------------------------------------------------------------ */

async function hasChanged(fs: FileSystem, path: string, seen: FileInfo): Promise<boolean> {
  const now = await fs.info(path).catch(() => undefined);
  return !now || now.size !== seen.size || now.etag !== seen.etag || now.mtime?.getTime() !== seen.mtime?.getTime();
}

/**
 * Runs `read`, turning corruption into ConflictError when the file no longer matches `seen`: reads
 * from a file replaced in between mix two versions, and retryOnConflict reads it again.
 */
async function conflictIfChanged<T>(fs: FileSystem, path: string, seen: FileInfo, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof CorruptCheckpointError && (await hasChanged(fs, path, seen))) {
      throw new ConflictError({ path, protocol: fs.protocol, cause: error });
    }
    throw error;
  }
}

async function shortRead(fs: FileSystem, path: string, seen: FileInfo, got: number, wanted: number): Promise<never> {
  if (await hasChanged(fs, path, seen)) throw new ConflictError({ path, protocol: fs.protocol });
  throw new CorruptCheckpointError('truncated', `read ${got} bytes where ${wanted} were expected`);
}

interface HeaderRead {
  info: FileInfo;
  header: SafetensorsHeader;
  /** The first bytes of the file, read with the header. */
  probe: Uint8Array;
}

async function readHeaderFrom(fs: FileSystem, path: string, signal: AbortSignal | undefined): Promise<HeaderRead> {
  const info = await fs.info(path, { signal });
  if (info.type !== 'file') throw new IsADirectoryError({ path, protocol: fs.protocol });
  // The file may be replaced after `info`: its new bytes would not fit the old size.
  return conflictIfChanged(fs, path, info, () => readHeaderOf(fs, path, info, signal));
}

/**
 * Best effort at one range read: the first 64 KiB hold the length prefix and, for most files, the
 * whole header. A larger header costs one more read of exactly the missing bytes.
 */
async function readHeaderOf(fs: FileSystem, path: string, info: FileInfo, signal: AbortSignal | undefined): Promise<HeaderRead> {
  const probeEnd = Math.min(info.size, HEADER_PROBE_BYTES);
  const probe = probeEnd === 0 ? new Uint8Array(0) : await fs.cat(path, { start: 0, end: probeEnd, signal });
  if (probe.length !== probeEnd) await shortRead(fs, path, info, probe.length, probeEnd);
  const n = readHeaderLength(probe, info.size);
  const headerEnd = LENGTH_PREFIX_BYTES + n;
  let headerBytes: Uint8Array;
  if (headerEnd <= probe.length) {
    headerBytes = probe.subarray(LENGTH_PREFIX_BYTES, headerEnd);
  } else {
    const rest = await fs.cat(path, { start: probe.length, end: headerEnd, signal });
    if (rest.length !== headerEnd - probe.length) await shortRead(fs, path, info, rest.length, headerEnd - probe.length);
    headerBytes = new Uint8Array(n);
    headerBytes.set(probe.subarray(LENGTH_PREFIX_BYTES), 0);
    headerBytes.set(rest, probe.length - LENGTH_PREFIX_BYTES);
  }
  return { info, header: parseHeader(headerBytes, info.size), probe };
}

interface ArrivedRange {
  chunk: Uint8Array;
  tensors: HeaderTensor[];
  /** Each tensor's `[start, end)` in `chunk`. */
  slices: [number, number][];
}

/**
 * Checks ranges' tensors against their digests as the ranges arrive, sharing the hashing between
 * the hash worker and this thread: the worker takes the next waiting range whenever it is idle, this
 * thread one range at a time otherwise, yielding in between so new reads and the worker's replies
 * are not held up. Resolves with the verified tensor bytes (a moved range comes back in a new view).
 */
function rangeVerifier(strata: StrataContent): (range: ArrivedRange) => Promise<Uint8Array[]> {
  const waiting: { range: ArrivedRange; resolve: (views: Uint8Array[]) => void; reject: (error: unknown) => void }[] = [];
  let mainScheduled = false;
  const finish = (range: ArrivedRange, chunk: Uint8Array, digests: string[]): Uint8Array[] => {
    range.tensors.forEach((t, i) => checkDigest(strata, t, digests[i]!));
    return range.slices.map(([start, end]) => chunk.subarray(start, end));
  };
  const pump = (): void => {
    const head = waiting[0];
    if (!head) return;
    const { chunk, slices } = head.range;
    // The chunk is ours alone (the loaded tensors will view it), so it may move to the worker.
    if (offThreadHashing && chunk.length >= OFF_THREAD_MIN_BYTES && isWholeBuffer(chunk) && !hashWorkerBusy()) {
      waiting.shift();
      sha256SlicesOnWorker(chunk, slices)
        .then(({ bytes, digests }) => head.resolve(finish(head.range, bytes, digests)))
        .catch(head.reject)
        .finally(pump);
      pump();
    } else if (!mainScheduled) {
      mainScheduled = true;
      setImmediate(() => {
        mainScheduled = false;
        const job = waiting.shift();
        if (job) {
          try {
            job.resolve(finish(job.range, job.range.chunk, job.range.slices.map(([start, end]) => sha256Hex(job.range.chunk.subarray(start, end)))));
          } catch (error) {
            job.reject(error);
          }
        }
        pump();
      });
    }
  };
  return (range) =>
    new Promise((resolve, reject) => {
      waiting.push({ range, resolve, reject });
      pump();
    });
}

/**
 * Reads the selected tensors' bytes (adjacent ones coalesced, bytes already in the probe reused,
 * as many ranges at once as the filesystem's `concurrency`) and verifies each range as soon as it
 * arrives, so hashing overlaps the reads still under way.
 */
async function readVerifiedTensorBytes(
  fs: FileSystem,
  path: string,
  read: HeaderRead,
  strata: StrataContent | undefined,
  selected: HeaderTensor[],
  signal: AbortSignal | undefined,
): Promise<Map<string, Uint8Array>> {
  const { header, probe, info } = read;
  const bytes = new Map<string, Uint8Array>();
  const ranges: { start: number; end: number; tensors: HeaderTensor[] }[] = [];
  const accept = (t: HeaderTensor, data: Uint8Array) => {
    verifyTensor(strata, t, data);
    bytes.set(t.name, data);
  };
  for (const t of selected) {
    const start = header.dataStart + t.begin;
    const end = header.dataStart + t.end;
    if (end === start) accept(t, new Uint8Array(0));
    else if (end <= probe.length) accept(t, probe.subarray(start, end));
    else {
      const last = ranges[ranges.length - 1];
      if (last && last.end === start && end - last.start <= MAX_RANGE_BYTES) {
        last.end = end;
        last.tensors.push(t);
      } else ranges.push({ start, end, tensors: [t] });
    }
  }
  const verify = strata ? rangeVerifier(strata) : async ({ chunk, slices }: ArrivedRange) => slices.map(([start, end]) => chunk.subarray(start, end));
  const limit = pLimit(fs.concurrency);
  const verifications: Promise<void>[] = [];
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  // After a failure no new range starts; work under way finishes before the error is thrown.
  // A range frees its read slot once its bytes are in: verification runs beside the next reads.
  const readRange = async ({ start, end, tensors }: (typeof ranges)[number]) => {
    if (failure) return;
    try {
      const chunk = await fs.cat(path, { start, end, signal });
      if (chunk.length !== end - start) await shortRead(fs, path, info, chunk.length, end - start);
      const slices = tensors.map((t): [number, number] => [header.dataStart + t.begin - start, header.dataStart + t.end - start]);
      verifications.push(verify({ chunk, tensors, slices }).then((views) => tensors.forEach((t, i) => bytes.set(t.name, views[i]!)), fail));
    } catch (error) {
      fail(error);
    }
  };
  await Promise.all(ranges.map((range) => limit(() => readRange(range))));
  await Promise.all(verifications);
  if (failure) throw failure.error;
  return bytes;
}

async function retryOnConflict<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= CONFLICT_ATTEMPTS) throw error;
    }
  }
}

function located(error: unknown, fs: FileSystem, path: string): unknown {
  return error instanceof CorruptCheckpointError ? error.withLocation(path, fs.protocol) : error;
}

async function loadFrom(fs: FileSystem, path: string, options: LoadOptions): Promise<Record<string, unknown>> {
  try {
    const read = await readHeaderFrom(fs, path, options.signal);
    return await conflictIfChanged(fs, path, read.info, async () => {
      const strata = readStrata(read.header);
      const selected = selectTensors(read.header, options.keys, { path, protocol: fs.protocol });
      const bytes = await readVerifiedTensorBytes(fs, path, read, strata, selected, options.signal);
      return buildCheckpoint(read.header, strata, selected, (t) => bytes.get(t.name)!);
    });
  } catch (error) {
    throw located(error, fs, path);
  }
}

/**
 * Loads a checkpoint written by saveCheckpoint, or any safetensors file (as a flat
 * `{ name: Tensor }` object). Every loaded tensor is checked against its SHA-256 and the metadata
 * against its digest; a bad file raises CorruptCheckpointError.
 */
export async function loadCheckpoint(url: string, options: LoadOptions = {}): Promise<Record<string, unknown>> {
  return withStorage(url, options, ({ fs, path }) => retryOnConflict(() => loadFrom(fs, path, options)));
}

/** The header alone: tensor names, dtypes, shapes, sizes and the metadata. Reads only the header. */
export async function readCheckpointInfo(url: string, options: StorageCallOptions = {}): Promise<CheckpointInfo> {
  return withStorage(url, options, ({ fs, path }) =>
    retryOnConflict(async () => {
      try {
        const { header, info } = await readHeaderFrom(fs, path, options.signal);
        return await conflictIfChanged(fs, path, info, async () => describeHeader(header, readStrata(header)));
      } catch (error) {
        throw located(error, fs, path);
      }
    }),
  );
}
