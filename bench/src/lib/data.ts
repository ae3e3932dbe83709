// The benchmark checkpoint: many tensors of mixed sizes and dtypes, filled with a deterministic,
// incompressible-looking pattern so every contender can be checked for returning the right bytes.
import { createHash } from 'node:crypto';

export type BenchDType = 'F32' | 'F16' | 'BF16' | 'I64';

export interface TensorSpec {
  /** Key inside `state_dict`. Strata stores it as the tensor `state_dict.<key>`. */
  key: string;
  dtype: BenchDType;
  shape: number[];
  byteLength: number;
  /** Rotation of the pattern block, so no two tensors hold the same bytes. */
  seed: number;
}

export const ITEM_SIZE: Record<BenchDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

const MiB = 1024 * 1024;
/** The tensor the partial-load scenario reads. */
export const PARTIAL_KEY = 'embed_weight';

/**
 * A transformer-like layout: one embedding (64 MiB at scale 1), 15 blocks of four large BF16
 * matrices, small F32 norms and F16 biases, and an I64 counter. At `scale` 1 it is 1,025 MiB.
 * Smaller scales divide every tensor (quick runs).
 */
export function checkpointLayout(scale = 1): TensorSpec[] {
  const specs: TensorSpec[] = [];
  let seed = 1;
  const add = (key: string, dtype: BenchDType, bytes: number) => {
    const item = ITEM_SIZE[dtype];
    const elements = Math.max(1, Math.floor(bytes / item));
    const cols = elements % 1024 === 0 ? 1024 : elements;
    specs.push({ key, dtype, shape: cols === elements ? [elements] : [elements / cols, cols], byteLength: elements * item, seed: seed++ });
  };
  const scaled = (bytes: number) => Math.max(64, Math.round(bytes * scale));
  add(PARTIAL_KEY, 'F32', scaled(64 * MiB));
  for (let layer = 0; layer < 15; layer++) {
    const p = `layer${String(layer).padStart(2, '0')}`;
    add(`${p}_attn_qkv_weight`, 'BF16', scaled(24 * MiB));
    add(`${p}_attn_out_weight`, 'BF16', scaled(8 * MiB));
    add(`${p}_mlp_up_weight`, 'BF16', scaled(16 * MiB));
    add(`${p}_mlp_down_weight`, 'BF16', scaled(16 * MiB));
    add(`${p}_attn_qkv_bias`, 'F16', scaled(24 * 1024));
    add(`${p}_mlp_up_bias`, 'F16', scaled(32 * 1024));
    add(`${p}_norm1_weight`, 'F32', scaled(16 * 1024));
    add(`${p}_norm2_weight`, 'F32', scaled(16 * 1024));
  }
  add('step_counter', 'I64', 8);
  return specs;
}

export function totalBytes(specs: readonly TensorSpec[]): number {
  return specs.reduce((sum, s) => sum + s.byteLength, 0);
}

const BLOCK = 4 * MiB;
let block: Uint8Array | undefined;

/** 4 MiB of hashed counter bytes; the same in every process. */
function patternBlock(): Uint8Array {
  if (block) return block;
  const words = new Uint32Array(BLOCK / 4);
  for (let i = 0; i < words.length; i++) {
    let x = Math.imul(i + 1, 0x9e3779b1);
    x ^= x >>> 15;
    x = Math.imul(x, 0x85ebca77);
    x ^= x >>> 13;
    words[i] = x >>> 0;
  }
  block = new Uint8Array(words.buffer);
  return block;
}

function rotation(spec: TensorSpec): number {
  return (spec.seed * 7919 * 64) % BLOCK;
}

/** Fresh bytes of one tensor. */
export function tensorBytes(spec: TensorSpec): Uint8Array {
  const source = patternBlock();
  const out = new Uint8Array(spec.byteLength);
  let from = rotation(spec);
  let filled = 0;
  while (filled < out.length) {
    const take = Math.min(BLOCK - from, out.length - filled);
    out.set(source.subarray(from, from + take), filled);
    filled += take;
    from = 0;
  }
  return out;
}

/** Throws unless `bytes` hold tensor `spec` (length plus 64 sampled positions). */
export function verifyTensorBytes(spec: TensorSpec, bytes: Uint8Array, who: string): void {
  if (bytes.length !== spec.byteLength) {
    throw new Error(`${who}: tensor ${spec.key} has ${bytes.length} bytes, expected ${spec.byteLength}`);
  }
  const source = patternBlock();
  const start = rotation(spec);
  const samples = Math.min(64, bytes.length);
  for (let s = 0; s < samples; s++) {
    const position = s === samples - 1 ? bytes.length - 1 : Math.floor((s * bytes.length) / samples);
    const expected = source[(start + position) % BLOCK];
    if (bytes[position] !== expected) {
      throw new Error(`${who}: tensor ${spec.key} byte ${position} is ${bytes[position]}, expected ${expected}`);
    }
  }
}

export function asBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A plain safetensors header (no metadata) for tensors laid out in `specs` order. */
export function safetensorsHeader(specs: readonly TensorSpec[]): Uint8Array {
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  let offset = 0;
  for (const s of specs) {
    header[`state_dict.${s.key}`] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + s.byteLength] };
    offset += s.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad so the data starts 8-byte aligned, as the reference implementation does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const body = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  return out;
}

export interface ParsedSafetensors {
  dataStart: number;
  tensors: Map<string, { dtype: string; shape: number[]; start: number; end: number }>;
  metadata: Record<string, string> | undefined;
}

/** Parses the header of a safetensors file held in `bytes` (at least the header). */
export function parseSafetensorsHeader(bytes: Uint8Array): ParsedSafetensors {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, length).toString('utf8')) as Record<string, unknown>;
  const tensors = new Map<string, { dtype: string; shape: number[]; start: number; end: number }>();
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const v = value as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.set(name, { dtype: v.dtype, shape: v.shape, start: v.data_offsets[0], end: v.data_offsets[1] });
  }
  return { dataStart: 8 + length, tensors, metadata: json['__metadata__'] as Record<string, string> | undefined };
}

/**
 * The check a raw download needs to give loadCheckpoint's guarantee (tampered bytes are an error):
 * the SHA-256 of every tensor against the digest Strata wrote into `__metadata__`, on this thread.
 */
export function checkTensorDigests(header: ParsedSafetensors, image: Uint8Array, who: string): void {
  const manifest = JSON.parse(header.metadata?.['strata'] ?? '{"tensors":[]}') as { tensors: { name: string; sha256: string }[] };
  if (manifest.tensors.length === 0) throw new Error(`${who}: no tensor digests in the metadata`);
  for (const { name, sha256 } of manifest.tensors) {
    const { start, end } = header.tensors.get(name)!;
    const actual = createHash('sha256').update(image.subarray(header.dataStart + start, header.dataStart + end)).digest('hex');
    if (actual !== sha256) throw new Error(`${who}: tensor ${name} hashes to ${actual}, the metadata says ${sha256}`);
  }
}

/** Checks a loaded plain-safetensors image against the layout. */
export function verifySafetensorsImage(specs: readonly TensorSpec[], image: Uint8Array, who: string): void {
  const parsed = parseSafetensorsHeader(image);
  for (const spec of specs) {
    const t = parsed.tensors.get(`state_dict.${spec.key}`);
    if (!t) throw new Error(`${who}: tensor state_dict.${spec.key} is missing`);
    verifyTensorBytes(spec, image.subarray(parsed.dataStart + t.start, parsed.dataStart + t.end), who);
  }
}
