/**
 * Interop with the reference implementation: Python's `safetensors` (+ numpy, ml_dtypes) from the
 * test venv that `node tools/test-servers/install.js` builds.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NotSupportedError } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  bfloat16Bits,
  dtypeByteSize,
  bfloat16ToFloat32,
  float16Bits,
  float16ToFloat32,
  loadCheckpoint,
  readCheckpointInfo,
  saveCheckpoint,
  serializeSafetensors,
  tensor,
  type DType,
  type Tensor,
} from '../src/index.js';
import { littleEndianSlice } from '../src/tensor.js';
import { findPython, tempDir } from './helpers.js';

const script = fileURLToPath(new URL('./python/interop.py', import.meta.url));

const python = findPython();

function run(args: string[], input?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = execFile(python!, [script, ...args], { maxBuffer: 64 << 20, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`python ${args.join(' ')} failed: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

interface PyTensor {
  dtype: DType;
  shape: number[];
  hex: string;
  values: (number | string | boolean)[];
}

function hexOf(t: Tensor, dtype: DType = t.dtype): string {
  return Buffer.from(littleEndianSlice(t.data, dtypeByteSize(dtype), 0, t.data.byteLength)).toString('hex');
}

/** Our values in the same JSON-safe form the Python script prints. */
function valuesOf(t: Tensor): (number | string | boolean)[] {
  const plain = (v: number | bigint): number | string => {
    if (typeof v === 'bigint') return v.toString();
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    if (Object.is(v, -0)) return '-0';
    return v;
  };
  switch (t.dtype) {
    case 'F16':
      return [...float16ToFloat32(t.data as Uint16Array)].map(plain);
    case 'BF16':
      return [...bfloat16ToFloat32(t.data as Uint16Array)].map(plain);
    case 'BOOL':
      return [...(t.data as Uint8Array)].map((b) => b === 1);
    case 'F32':
    case 'F64':
      return [...(t.data as Float32Array)].map(plain);
    default:
      return [...(t.data as unknown as Iterable<number | bigint>)].map((v) => (typeof v === 'bigint' ? v.toString() : String(v)));
  }
}

describe.skipIf(python === undefined)('interop with Python safetensors', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it('Python loads every tensor of a Strata checkpoint with the same values', async () => {
    const path = join(tmp.dir, 'strata.safetensors');
    const ckpt = {
      epoch: 2,
      state_dict: {
        'enc.weight': tensor('F32', [2, 3], [0.5, -1, 2, 3.25, NaN, -0]),
        'enc.half': tensor('F16', [3], [1, -65504, 0.1]),
        'enc.brain': tensor('BF16', [2], [1.5, -1e20]),
        'enc.double': tensor('F64', [1], [Math.E]),
      },
      counters: { steps: tensor('I64', [2], [2n ** 63n - 1n, -(2n ** 63n)]), u: tensor('U64', [1], [2n ** 64n - 1n]) },
      masks: [tensor('BOOL', [2, 2], [1, 0, 0, 1])],
      ints: { i8: new Int8Array([-5]), u8: new Uint8Array([250]), i16: new Int16Array([-300]), i32: new Int32Array([70000]), u16: new Uint16Array([65535]), u32: new Uint32Array([4e9]) },
      scalar: tensor('F32', [], [7]),
      empty: tensor('I32', [0, 4]),
    };
    await saveCheckpoint(ckpt, path);
    const py = (await run(['read', path])) as { metadata: Record<string, string>; names: string[]; tensors: Record<string, PyTensor> };
    const info = await readCheckpointInfo(path);
    expect(py.metadata.format).toBe('strata-checkpoint');
    expect(py.names.sort()).toEqual(info.tensors.map((t) => t.name).sort());
    const ours = new Map<string, Tensor>();
    const walk = (value: unknown, prefix: string[]): void => {
      if (value && typeof value === 'object' && 'dtype' in value && 'data' in value) ours.set(prefix.map((p) => p.replaceAll('~', '~0').replaceAll('.', '~1')).join('.'), value as Tensor);
      else if (ArrayBuffer.isView(value)) ours.set(prefix.join('.'), { dtype: 'U8', shape: [], data: value });
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...prefix, k]);
    };
    walk(await loadCheckpoint(path), []);
    for (const t of info.tensors) {
      const p = py.tensors[t.name]!;
      expect(p.dtype, t.name).toBe(t.dtype);
      expect(p.shape, t.name).toEqual(t.shape);
      const loaded = ours.get(t.name)!;
      const dtype = t.dtype as DType; // a Strata checkpoint holds only loadable dtypes
      expect(p.hex, t.name).toBe(hexOf(loaded, dtype));
      if (loaded.dtype !== 'U8' || loaded.shape.length > 0) expect(p.values, t.name).toEqual(valuesOf({ ...loaded, dtype }));
    }
    expect(py.tensors['state_dict.enc~1half']!.values).toEqual([1, -65504, 0.0999755859375]);
    expect(py.tensors['counters.steps']!.values).toEqual(['9223372036854775807', '-9223372036854775808']);
  });

  it('Strata loads a file written by safetensors.numpy.save_file (F16, I64, BOOL, BF16 and the rest), byte for byte', async () => {
    const path = join(tmp.dir, 'python.safetensors');
    const written = (await run(['write', path])) as Record<string, PyTensor>;
    const loaded = (await loadCheckpoint(path)) as Record<string, Tensor>;
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(written).sort());
    for (const [name, p] of Object.entries(written)) {
      const t = loaded[name]!;
      expect(t.dtype, name).toBe(p.dtype);
      expect(t.shape, name).toEqual(p.shape);
      expect(hexOf(t), name).toBe(p.hex);
      expect(valuesOf(t), name).toEqual(p.values);
    }
    expect(loaded.flags!.data).toBeInstanceOf(Uint8Array);
    expect(loaded.long!.data).toBeInstanceOf(BigInt64Array);
    expect(loaded.brain!.data).toBeInstanceOf(Uint16Array);
    const info = await readCheckpointInfo(path);
    expect(info.format).toBe('safetensors');
    expect(info.metadata).toEqual({ framework: 'numpy', note: 'written by Python' });
  });

  it('Strata reads a Python file with complex64 and float8 tensors and a "strata" note, loading what it can', async () => {
    const path = join(tmp.dir, 'foreign.safetensors');
    const written = (await run(['write-foreign', path])) as Record<string, PyTensor>;
    const info = await readCheckpointInfo(path);
    expect(info.format).toBe('safetensors');
    expect(info.metadata).toEqual({ strata: 'my notes' });
    expect(Object.fromEntries(info.tensors.map((t) => [t.name, [t.dtype, t.shape, t.byteLength]]))).toEqual({
      weight: ['F32', [2], 8],
      ids: ['I64', [3], 24],
      complex: ['C64', [2], 16],
      fp8: ['F8_E4M3', [2, 2], 4],
      fp8b: ['F8_E5M2', [1], 1],
    });
    const error = await loadCheckpoint(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedError);
    expect((error as Error).message).toMatch(/"complex" has dtype C64|"fp8" has dtype F8_E4M3|"fp8b" has dtype F8_E5M2/);
    const loaded = (await loadCheckpoint(path, { keys: (name) => name in written })) as Record<string, Tensor>;
    expect(Object.keys(loaded).sort()).toEqual(['ids', 'weight']);
    for (const [name, p] of Object.entries(written)) expect(hexOf(loaded[name]!), name).toBe(p.hex);
  });

  it('writes the same bytes as safetensors.numpy.save for the same tensors', async () => {
    const path = join(tmp.dir, 'identity.safetensors');
    const described = (await run(['save-bytes', path])) as Record<string, PyTensor>;
    const tensors = Object.fromEntries(Object.entries(described).map(([name, p]) => [name, tensor(p.dtype, p.shape, Buffer.from(p.hex, 'hex'))]));
    const ours = serializeSafetensors(tensors, { note: 'byte identity' });
    const theirs = new Uint8Array(await readFile(path));
    expect(Buffer.from(ours).toString('latin1')).toBe(Buffer.from(theirs).toString('latin1'));
  });

  it('F16 and BF16 rounding agrees with numpy and ml_dtypes', async () => {
    const bits: number[] = [];
    const view = new DataView(new ArrayBuffer(4));
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bits.push(x);
    }
    // Also every power-of-two boundary region and exact midpoints of F16.
    for (let h = 0; h < 0x7c00; h += 7) {
      view.setFloat32(0, (float16ToFloat32([h])[0]! + float16ToFloat32([h + 1])[0]!) / 2);
      bits.push(view.getUint32(0));
    }
    const expected = (await run(['convert'], JSON.stringify(bits))) as { f16: number[]; bf16: number[] };
    const f16Mismatch: string[] = [];
    const bf16Mismatch: string[] = [];
    // A NaN's payload may differ between converters; it must stay a NaN (all-ones exponent, non-zero mantissa).
    const isNaNF16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x03ff) !== 0;
    const isNaNBF16 = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x007f) !== 0;
    bits.forEach((b, i) => {
      view.setUint32(0, b);
      const value = view.getFloat32(0);
      const nan = Number.isNaN(value);
      const ours16 = float16Bits(value);
      const oursB = bfloat16Bits(value);
      if (nan ? !isNaNF16(expected.f16[i]!) || !isNaNF16(ours16) : ours16 !== expected.f16[i]) f16Mismatch.push(`${value}: ${ours16} vs ${expected.f16[i]}`);
      if (nan ? !isNaNBF16(expected.bf16[i]!) || !isNaNBF16(oursB) : oursB !== expected.bf16[i]) bf16Mismatch.push(`${value}: ${oursB} vs ${expected.bf16[i]}`);
    });
    expect(f16Mismatch.slice(0, 5)).toEqual([]);
    expect(bf16Mismatch.slice(0, 5)).toEqual([]);
  });
});
