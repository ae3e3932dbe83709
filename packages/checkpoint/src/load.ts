import { ConflictError, IsADirectoryError, type FileInfo, type FileSystem } from '@strata/fs-core';

import type { DType } from './dtypes.js';
import { CorruptCheckpointError } from './errors.js';
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
  dtype: DType;
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
const MAX_RANGE_BYTES = 64 << 20;
/** A file replaced while it is being read is read again, this many times in all. */
const CONFLICT_ATTEMPTS = 3;

/* ------------------------------------------------------------------ */
/* Shared by the in-memory and storage paths                           */
/* ------------------------------------------------------------------ */

function selectTensors(header: SafetensorsHeader, keys: LoadOptions['keys']): HeaderTensor[] {
  return keys ? header.tensors.filter((t) => keys(t.name)) : header.tensors;
}

function buildCheckpoint(
  header: SafetensorsHeader,
  strata: StrataContent | undefined,
  selected: HeaderTensor[],
  bytesOf: (t: HeaderTensor) => Uint8Array,
): Record<string, unknown> {
  const loaded = new Map<string, Tensor>();
  for (const t of selected) {
    const bytes = bytesOf(t);
    if (strata) {
      const expected = strata.byName.get(t.name)!.sha256;
      const actual = sha256Hex(bytes);
      if (actual !== expected) {
        throw new CorruptCheckpointError('digest-mismatch', `tensor ${JSON.stringify(t.name)} hashes to ${actual}, the manifest says ${expected}`);
      }
    }
    loaded.set(t.name, { dtype: t.dtype, shape: [...t.shape], data: elementsFromLittleEndian(t.dtype, bytes) });
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
  return buildCheckpoint(header, strata, selectTensors(header, options.keys), (t) =>
    bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end),
  );
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

/**
 * Best effort at one range read: the first 64 KiB hold the length prefix and, for most files, the
 * whole header. A larger header costs one more read of exactly the missing bytes.
 */
async function readHeaderFrom(fs: FileSystem, path: string, signal: AbortSignal | undefined): Promise<HeaderRead> {
  const info = await fs.info(path, { signal });
  if (info.type !== 'file') throw new IsADirectoryError({ path, protocol: fs.protocol });
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

/** Reads the selected tensors' bytes: adjacent ones coalesced, bytes already in the probe reused. */
async function readTensorBytes(fs: FileSystem, path: string, read: HeaderRead, selected: HeaderTensor[], signal: AbortSignal | undefined): Promise<Map<string, Uint8Array>> {
  const { header, probe, info } = read;
  const bytes = new Map<string, Uint8Array>();
  const ranges: { start: number; end: number; tensors: HeaderTensor[] }[] = [];
  for (const t of selected) {
    const start = header.dataStart + t.begin;
    const end = header.dataStart + t.end;
    if (end === start) bytes.set(t.name, new Uint8Array(0));
    else if (end <= probe.length) bytes.set(t.name, probe.subarray(start, end));
    else {
      const last = ranges[ranges.length - 1];
      if (last && last.end === start && end - last.start <= MAX_RANGE_BYTES) {
        last.end = end;
        last.tensors.push(t);
      } else ranges.push({ start, end, tensors: [t] });
    }
  }
  if (ranges.length === 0) return bytes;
  const chunks = await fs.catRanges(
    ranges.map(() => path),
    ranges.map((r) => r.start),
    ranges.map((r) => r.end),
    { signal },
  );
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!;
    const chunk = chunks[i]!;
    if (chunk.length !== range.end - range.start) await shortRead(fs, path, info, chunk.length, range.end - range.start);
    for (const t of range.tensors) {
      const start = header.dataStart + t.begin - range.start;
      bytes.set(t.name, chunk.subarray(start, start + (t.end - t.begin)));
    }
  }
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
    const strata = readStrata(read.header);
    const selected = selectTensors(read.header, options.keys);
    const bytes = await readTensorBytes(fs, path, read, selected, options.signal);
    try {
      return buildCheckpoint(read.header, strata, selected, (t) => bytes.get(t.name)!);
    } catch (error) {
      // A file replaced between our reads mixes two versions; that is a conflict, not corruption.
      if (error instanceof CorruptCheckpointError && (await hasChanged(fs, path, read.info))) {
        throw new ConflictError({ path, protocol: fs.protocol, cause: error });
      }
      throw error;
    }
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
        const { header } = await readHeaderFrom(fs, path, options.signal);
        return describeHeader(header, readStrata(header));
      } catch (error) {
        throw located(error, fs, path);
      }
    }),
  );
}
