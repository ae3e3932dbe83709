/**
 * The Strata layer inside `__metadata__`: format marker, version, digest and the `strata` JSON
 * (object tree + tensor manifest with per-tensor SHA-256). See README "File format".
 */
import { createHash } from 'node:crypto';

import { isFileDType, type FileDType } from './dtypes.js';
import { CorruptCheckpointError } from './errors.js';
import { JsonParseError, describeContainerLimits, parseJson, type JsonValue } from './json.js';
import type { SafetensorsHeader } from './safetensors.js';

export const FORMAT = 'strata-checkpoint';
export const FORMAT_VERSION = 1;
export const DIGEST_PREFIX = 'sha256:';

export interface ManifestEntry {
  name: string;
  dtype: FileDType;
  shape: number[];
  /** Lower-case hex SHA-256 of the tensor's bytes in the file. */
  sha256: string;
}

export interface StrataContent {
  version: number;
  tree: JsonValue;
  /** In the order the writer listed them (its data order). */
  manifest: ManifestEntry[];
  byName: Map<string, ManifestEntry>;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Objects and arrays the `strata` JSON may hold: 100 000, plus one per 8 characters (objects: one
 * per 16), which real trees stay well within. Bounds what a hostile tree can make the parser
 * spend; saving refuses a tree beyond it, so every saved checkpoint loads.
 */
export function strataLimits(strataLength: number): { maxContainers: number; maxObjects: number } {
  const { base, charsPerContainer, charsPerObject } = STRATA_LIMIT_RATES;
  return { maxContainers: base + Math.floor(strataLength / charsPerContainer), maxObjects: base + Math.floor(strataLength / charsPerObject) };
}

/** The figures strataLimits scales by, for messages that explain a refusal. */
export const STRATA_LIMIT_RATES = { base: 100_000, charsPerContainer: 8, charsPerObject: 16 } as const;

/** The `strata` JSON text. Key order is fixed so output is deterministic. */
export function strataText(tree: JsonValue, manifest: readonly ManifestEntry[]): string {
  return JSON.stringify({
    tree,
    tensors: manifest.map((m) => ({ name: m.name, dtype: m.dtype, shape: m.shape, sha256: m.sha256 })),
  });
}

/** The `__metadata__` map of a Strata checkpoint. */
export function strataMetadata(tree: JsonValue, manifest: readonly ManifestEntry[]): Record<string, string> {
  const strata = strataText(tree, manifest);
  return {
    format: FORMAT,
    version: String(FORMAT_VERSION),
    digest: DIGEST_PREFIX + sha256Hex(strata),
    strata,
  };
}

/** Only the format marker makes a file Strata: other writers may use a `strata` key for their own notes. */
export function isStrataHeader(header: SafetensorsHeader): boolean {
  return header.metadata?.['format'] === FORMAT;
}

/**
 * Metadata whose `digest` matches its `strata` entry was written by Strata even when the marker
 * says otherwise: the marker is outside the digest, so one flipped bit there must not turn a
 * checkpoint into a plain file that loads unverified.
 */
function isDamagedStrata(md: Record<string, string>): boolean {
  const { digest, strata } = md;
  return strata !== undefined && digest !== undefined && digest === DIGEST_PREFIX + sha256Hex(strata);
}

const bad = (reason: 'invalid-metadata' | 'manifest-mismatch' | 'digest-mismatch' | 'unsupported-version', detail: string): CorruptCheckpointError =>
  new CorruptCheckpointError(reason, detail);

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Reads and verifies the Strata layer: the digest over the `strata` JSON, then that the manifest
 * agrees with the safetensors header tensor by tensor (same names, dtypes and shapes).
 * Returns undefined for a plain safetensors file.
 */
export function readStrata(header: SafetensorsHeader): StrataContent | undefined {
  const md = header.metadata;
  if (md === undefined) return undefined;
  if (!isStrataHeader(header)) {
    if (!isDamagedStrata(md)) return undefined;
    throw bad('invalid-metadata', `__metadata__.format is ${JSON.stringify(md['format'] ?? null)}, but its digest and strata entries are a Strata checkpoint's`);
  }
  const versionText = md['version'];
  if (versionText === undefined || !/^[1-9]\d{0,8}$/.test(versionText)) throw bad('invalid-metadata', `__metadata__.version is ${JSON.stringify(versionText ?? null)}`);
  const version = Number(versionText);
  if (version > FORMAT_VERSION) throw bad('unsupported-version', `format version ${version} is newer than this reader (${FORMAT_VERSION})`);
  const strata = md['strata'];
  const digest = md['digest'];
  if (strata === undefined) throw bad('invalid-metadata', '__metadata__.strata is missing');
  if (digest === undefined || !digest.startsWith(DIGEST_PREFIX) || !HEX64.test(digest.slice(DIGEST_PREFIX.length))) {
    throw bad('invalid-metadata', `__metadata__.digest is ${JSON.stringify(digest ?? null)}, expected "sha256:<64 hex digits>"`);
  }
  const actual = sha256Hex(strata);
  if (digest.slice(DIGEST_PREFIX.length) !== actual) throw bad('digest-mismatch', `the metadata digest is ${digest} but the strata entry hashes to sha256:${actual}`);

  let parsed: JsonValue;
  const limits = strataLimits(strata.length);
  try {
    parsed = parseJson(strata, limits);
  } catch (error) {
    if (!(error instanceof JsonParseError)) throw error;
    if (error.problem === 'too-many-containers') {
      throw bad('invalid-metadata', `the ${strata.length}-character strata entry holds more objects and arrays than allowed for its size (at most ${describeContainerLimits(limits)})`);
    }
    throw new CorruptCheckpointError('invalid-metadata', `strata JSON: ${error.message}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.hasOwn(parsed, 'tree') || !Array.isArray(parsed['tensors'])) {
    throw bad('invalid-metadata', 'the strata entry must be an object with "tree" and "tensors"');
  }
  const list = parsed['tensors'];
  if (list.length !== header.tensors.length) {
    throw bad('manifest-mismatch', `the manifest lists ${list.length} tensors but the header has ${header.tensors.length}`);
  }
  // Matched by name: zero-length tensors share offsets, so their order in the header is not defined.
  const manifest: ManifestEntry[] = [];
  const byName = new Map<string, ManifestEntry>();
  for (let i = 0; i < list.length; i++) {
    const m = list[i]!;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad('invalid-metadata', `manifest entry ${i} is not an object`);
    const { name, dtype, shape, sha256 } = m;
    if (typeof name !== 'string' || !isFileDType(dtype) || !Array.isArray(shape) || typeof sha256 !== 'string' || !HEX64.test(sha256)) {
      throw bad('invalid-metadata', `manifest entry ${i} is malformed`);
    }
    if (byName.has(name)) throw bad('manifest-mismatch', `the manifest lists ${JSON.stringify(name)} twice`);
    const h = header.byName.get(name);
    if (!h) throw bad('manifest-mismatch', `the manifest lists ${JSON.stringify(name)}, which the header does not have`);
    if (dtype !== h.dtype || shape.length !== h.shape.length || shape.some((d, j) => d !== h.shape[j])) {
      throw bad('manifest-mismatch', `tensor ${JSON.stringify(name)} is ${h.dtype}[${h.shape.join(',')}] in the header but ${dtype}${JSON.stringify(shape)} in the manifest`);
    }
    const entry: ManifestEntry = { name, dtype, shape: h.shape, sha256 };
    manifest.push(entry);
    byName.set(name, entry);
  }
  return { version, tree: parsed['tree']!, manifest, byName };
}
