/** The safetensors container: building and validating headers. No I/O here. */
import { dtypeBits, isFileDType, referenceRank, type DType, type FileDType } from './dtypes.js';
import { CorruptCheckpointError } from './errors.js';
import { JsonParseError, describeContainerLimits, parseJson, type JsonValue } from './json.js';

/** Largest header the reference implementation accepts; we refuse the same. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Bytes of the little-endian u64 header length that opens every file. */
export const LENGTH_PREFIX_BYTES = 8;

/**
 * Objects and arrays a header may hold. A tensor entry is one object and two arrays in at least 50
 * bytes (`"":{"dtype":"U8","shape":[],"data_offsets":[0,0]},`), so these admit every valid header
 * and bound the memory and time a hostile one can make the parser spend.
 */
export function headerLimits(headerLength: number): { maxContainers: number; maxObjects: number } {
  return { maxContainers: 1024 + Math.floor(headerLength / 16), maxObjects: 1024 + Math.floor(headerLength / 48) };
}

export interface HeaderTensor {
  name: string;
  /** May be a ForeignDType, which can be listed but not loaded. */
  dtype: FileDType;
  shape: number[];
  /** Offsets relative to the start of the data region, as written in `data_offsets`. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Length of the JSON header (including padding), the N of the u64 prefix. */
  headerByteLength: number;
  /** Absolute file offset where tensor data begins: 8 + N. */
  dataStart: number;
  fileByteLength: number;
  /** `__metadata__`, or undefined when the header has none. Its prototype chain has no properties. */
  metadata: Record<string, string> | undefined;
  /** Tensors in data order (by offset). */
  tensors: HeaderTensor[];
  byName: Map<string, HeaderTensor>;
}

const corrupt = (reason: ConstructorParameters<typeof CorruptCheckpointError>[0], detail: string): CorruptCheckpointError =>
  new CorruptCheckpointError(reason, detail);

/** Validates the u64 length prefix against the file size and returns N. */
export function readHeaderLength(prefix: Uint8Array, fileByteLength: number): number {
  if (prefix.length < LENGTH_PREFIX_BYTES || fileByteLength < LENGTH_PREFIX_BYTES) {
    throw corrupt('truncated', `the file has ${Math.min(prefix.length, fileByteLength)} bytes, fewer than the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw corrupt('header-too-large', `the header claims ${n} bytes; at most ${MAX_HEADER_BYTES} are allowed`);
  const length = Number(n);
  if (LENGTH_PREFIX_BYTES + length > fileByteLength) {
    throw corrupt('truncated', `the header claims ${length} bytes but the file has only ${fileByteLength - LENGTH_PREFIX_BYTES} after the length`);
  }
  return length;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isCount(value: JsonValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const U64_LIMIT = 1n << 64n;

/**
 * The product of the dimensions, or undefined when it passes 64 bits on the way, which the
 * reference reader refuses even when a later dimension is 0. Counted exactly (doubles would round
 * an overflow away); past 2^53 the result only has to be large enough for the size check to refuse.
 */
function elementCount(shape: number[]): number | undefined {
  let elements = 1n;
  for (const d of shape) {
    elements *= BigInt(d);
    if (elements >= U64_LIMIT) return undefined;
  }
  return Number(elements);
}

/**
 * Byte size of dtype × shape, or undefined when it exceeds `limit` (so no overflow can mislead) or
 * is not a whole number of bytes (sub-byte dtypes, as the reference reader requires).
 */
function byteSizeWithin(dtype: FileDType, elements: number, limit: number): number | undefined {
  const bits = elements * dtypeBits(dtype);
  if (bits > limit * 8) return undefined;
  return bits % 8 === 0 ? bits / 8 : undefined;
}

/**
 * Parses and validates a header: JSON shape, dtypes, sizes, and that the offsets tile the data
 * region exactly (no overlap, no gap, nothing past or short of the end of the file).
 */
export function parseHeader(headerBytes: Uint8Array, fileByteLength: number): SafetensorsHeader {
  const headerByteLength = headerBytes.length;
  const dataStart = LENGTH_PREFIX_BYTES + headerByteLength;
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch (error) {
    throw new CorruptCheckpointError('header-encoding', 'the header is not valid UTF-8', { cause: error });
  }
  let parsed: JsonValue;
  const limits = headerLimits(headerByteLength);
  try {
    parsed = parseJson(text, { ...limits, asSafetensorsHeader: true });
  } catch (error) {
    if (!(error instanceof JsonParseError)) throw error;
    if (error.problem === 'too-many-containers') {
      throw new CorruptCheckpointError('header-json', `the ${headerByteLength}-byte header holds more objects and arrays than the tensors it can describe need (at most ${describeContainerLimits(limits)})`, { cause: error });
    }
    const reason = error.problem === 'duplicate-key' ? 'duplicate-name' : error.problem === 'forbidden-key' ? 'forbidden-key' : 'header-json';
    throw new CorruptCheckpointError(reason, `header JSON: ${error.message}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw corrupt('header-not-object', `the header JSON is ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed}, not an object`);
  }

  let metadata: Record<string, string> | undefined;
  const tensors: HeaderTensor[] = [];
  const dataByteLength = fileByteLength - dataStart;
  for (const name of Object.keys(parsed)) {
    const entry = parsed[name]!;
    if (name === '__metadata__') {
      if (entry === null) continue;
      if (typeof entry !== 'object' || Array.isArray(entry)) throw corrupt('invalid-metadata', '__metadata__ must be an object of strings');
      for (const key of Object.keys(entry)) {
        if (typeof entry[key] !== 'string') throw corrupt('invalid-metadata', `__metadata__[${JSON.stringify(key)}] is not a string`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const label = JSON.stringify(name);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw corrupt('invalid-tensor-info', `tensor ${label} is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') throw corrupt('invalid-tensor-info', `tensor ${label} has no dtype`);
    if (!isFileDType(dtype)) throw corrupt('unknown-dtype', `tensor ${label} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw corrupt('invalid-tensor-info', `tensor ${label} has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
      throw corrupt('invalid-tensor-info', `tensor ${label} has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw corrupt('invalid-tensor-info', `tensor ${label} ends (${end}) before it begins (${begin})`);
    const elements = elementCount(shape);
    if (elements === undefined) throw corrupt('invalid-tensor-info', `tensor ${label} has shape [${shape.join(',')}], more elements than 64 bits count`);
    const size = byteSizeWithin(dtype, elements, end - begin);
    if (size !== end - begin) {
      throw corrupt('size-mismatch', `tensor ${label} is ${dtype}[${shape.join(',')}] but its offsets span ${end - begin} bytes`);
    }
    tensors.push({ name, dtype, shape, begin, end });
  }

  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const t of tensors) {
    if (t.begin < expected) throw corrupt('overlapping-offsets', `tensor ${JSON.stringify(t.name)} starts at ${t.begin}, inside the previous tensor (which ends at ${expected})`);
    if (t.begin > expected) throw corrupt('gapped-offsets', `tensor ${JSON.stringify(t.name)} starts at ${t.begin}, leaving a gap after ${expected}`);
    expected = t.end;
  }
  if (expected > dataByteLength) {
    throw corrupt('out-of-bounds', `tensor data ends at ${expected} but the file holds only ${dataByteLength} data bytes (truncated?)`);
  }
  if (expected < dataByteLength) throw corrupt('trailing-data', `the file has ${dataByteLength - expected} bytes after the last tensor`);

  const byName = new Map(tensors.map((t) => [t.name, t]));
  return { headerByteLength, dataStart, fileByteLength, metadata, tensors, byName };
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: readonly number[];
  byteLength: number;
}

/** Orders tensors as the reference writer does: dtype rank descending, then name by UTF-8 bytes. */
export function inReferenceOrder<T extends { name: string; dtype: DType }>(items: readonly T[]): T[] {
  const keyed = items.map((item) => ({ item, rank: referenceRank(item.dtype), bytes: Buffer.from(item.name, 'utf8') }));
  keyed.sort((a, b) => b.rank - a.rank || Buffer.compare(a.bytes, b.bytes));
  return keyed.map((k) => k.item);
}

/**
 * The 8-byte length plus the JSON header, padded with spaces to a multiple of 8, for tensors laid
 * out contiguously in the given order. `__metadata__` comes first, then tensors in data order —
 * the same bytes serde_json produces in the reference writer.
 */
export function buildHeader(entries: readonly HeaderEntry[], metadata?: Readonly<Record<string, string>>): { bytes: Uint8Array; dataByteLength: number } {
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const e of entries) {
    const info = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] };
    parts.push(`${JSON.stringify(e.name)}:${JSON.stringify(info)}`);
    offset += e.byteLength;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new RangeError(`The header would be ${padded} bytes; safetensors allows at most ${MAX_HEADER_BYTES}`);
  const bytes = new Uint8Array(LENGTH_PREFIX_BYTES + padded).fill(0x20);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, LENGTH_PREFIX_BYTES);
  return { bytes, dataByteLength: offset };
}
