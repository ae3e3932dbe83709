import { describe, expect, it } from 'vitest';

import {
  bfloat16Bits,
  bfloat16ToFloat32,
  bfloat16Value,
  float16Bits,
  float16ToFloat32,
  float16Value,
  float32ToBFloat16,
  float32ToFloat16,
  fromTypedArray,
  isTensor,
  numel,
  tensor,
  toFloat32Array,
} from '../src/index.js';
import { littleEndianSlice, needsByteSwap } from '../src/tensor.js';

describe('tensor()', () => {
  it('keeps a natural typed array without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tensor('F32', [2, 3], data);
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 3]);
  });

  it('reads a Uint8Array as raw little-endian bytes', () => {
    const t = tensor('F32', [1], new Uint8Array([0, 0, 0x80, 0x3f]));
    expect(t.data).toBeInstanceOf(Float32Array);
    expect([...(t.data as Float32Array)]).toEqual([1]);
    const unaligned = new Uint8Array(5).subarray(1);
    unaligned.set([0, 0, 0x80, 0x3f]);
    expect([...(tensor('F32', [1], unaligned).data as Float32Array)]).toEqual([1]);
  });

  it('converts plain arrays and other typed arrays by value', () => {
    expect([...(tensor('I32', [3], [1, -2, 3]).data as Int32Array)]).toEqual([1, -2, 3]);
    expect([...(tensor('F64', [2], new Float32Array([0.5, 2])).data as Float64Array)]).toEqual([0.5, 2]);
    expect([...(tensor('I64', [2], [1, 2n]).data as BigInt64Array)]).toEqual([1n, 2n]);
    expect([...(tensor('BOOL', [3], [true, 0, 5]).data as Uint8Array)]).toEqual([1, 0, 1]);
    expect([...(tensor('F16', [2], [1, -2]).data as Uint16Array)]).toEqual([0x3c00, 0xc000]);
    expect([...(tensor('F16', [1], new Uint16Array([0x3c00])).data as Uint16Array)]).toEqual([0x3c00]);
    expect([...(tensor('BF16', [1], [1]).data as Uint16Array)]).toEqual([0x3f80]);
  });

  it('zero-fills without data and handles scalars and empty shapes', () => {
    expect(tensor('F32', [2, 2]).data).toEqual(new Float32Array(4));
    expect(numel([])).toBe(1);
    expect(tensor('U8', [], [7]).data).toEqual(new Uint8Array([7]));
    expect(tensor('U8', [3, 0]).data.byteLength).toBe(0);
  });

  it('refuses wrong sizes, shapes, dtypes and element types', () => {
    expect(() => tensor('F32', [3], [1, 2])).toThrow(/needs 12 bytes/);
    expect(() => tensor('F32', [-1], [])).toThrow(/non-negative/);
    expect(() => tensor('F32', [1.5], [])).toThrow(/non-negative/);
    expect(() => tensor('X' as 'F32', [1], [])).toThrow(/Unknown dtype/);
    expect(() => tensor('BOOL', [1], new Uint8Array([2]))).toThrow(/only 0 and 1/);
  });

  it('wraps typed arrays with the matching dtype', () => {
    expect(fromTypedArray(new BigUint64Array(2))).toMatchObject({ dtype: 'U64', shape: [2] });
    expect(fromTypedArray(new Int16Array(6), [2, 3])).toMatchObject({ dtype: 'I16', shape: [2, 3] });
    expect(isTensor(fromTypedArray(new Float64Array(1)))).toBe(true);
    expect(isTensor({ dtype: 'F32', shape: [1] })).toBe(false);
  });
});

describe('half-precision conversions', () => {
  it('F16: every bit pattern decodes and re-encodes to itself (NaNs to a NaN)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = float16Value(bits);
      const back = float16Bits(value);
      if (Number.isNaN(value)) expect((back & 0x7c00) === 0x7c00 && (back & 0x3ff) !== 0).toBe(true);
      else if (back !== bits) throw new Error(`0x${bits.toString(16)} → ${value} → 0x${back.toString(16)}`);
    }
  });

  it('F16: values halfway between neighbours round to the even one; beyond the range to infinity', () => {
    for (let bits = 0; bits < 0x7bff; bits++) {
      const low = float16Value(bits);
      const high = float16Value(bits + 1);
      const mid = (low + high) / 2;
      const even = bits % 2 === 0 ? bits : bits + 1;
      if (float16Bits(mid) !== even) throw new Error(`midpoint of 0x${bits.toString(16)} rounded wrong`);
      if (float16Bits(mid + (high - low) / 8) !== bits + 1) throw new Error(`above midpoint of 0x${bits.toString(16)}`);
      if (float16Bits(-(mid - (high - low) / 8)) !== (bits | 0x8000)) throw new Error(`below midpoint of -0x${bits.toString(16)}`);
    }
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(65520)).toBe(0x7c00);
    expect(float16Bits(-1e10)).toBe(0xfc00);
    expect(float16Bits(2 ** -25)).toBe(0);
    expect(float16Bits(2 ** -25 * 1.0001)).toBe(1);
    expect(float16Bits(-0)).toBe(0x8000);
  });

  it('BF16: every bit pattern round-trips, midpoints round to even, and matches Float32 truncation rules', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = bfloat16Value(bits);
      const back = bfloat16Bits(value);
      if (Number.isNaN(value)) {
        expect(Number.isNaN(bfloat16Value(back))).toBe(true);
        continue;
      }
      if (back !== bits) throw new Error(`0x${bits.toString(16)} → ${value} → 0x${back.toString(16)}`);
      if ((bits & 0x7fff) < 0x7f7f) {
        const next = bfloat16Value(bits + 1);
        const even = bits % 2 === 0 ? bits : bits + 1;
        if (bfloat16Bits((value + next) / 2) !== even) throw new Error(`midpoint after 0x${bits.toString(16)}`);
      }
    }
    expect(bfloat16Bits(3.4e38 * 10)).toBe(0x7f80);
  });

  it('array helpers agree with the scalar ones', () => {
    const values = new Float32Array([0, -0, 1, -2.5, 65504, 1e-7, NaN, Infinity, 3.14159]);
    const half = float32ToFloat16(values);
    expect([...half]).toEqual([...values].map(float16Bits));
    expect([...float16ToFloat32(half)].map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual([...half].map((b) => (Number.isNaN(float16Value(b)) ? 'NaN' : float16Value(b))));
    const brain = float32ToBFloat16(values);
    expect([...bfloat16ToFloat32(brain)].slice(0, 6)).toEqual([0, -0, 1, -2.5, 65536, 1.0011717677116394e-7]);
    expect([...toFloat32Array(tensor('F16', [2], [1.5, -3]))]).toEqual([1.5, -3]);
    expect([...toFloat32Array(tensor('BF16', [1], [2]))]).toEqual([2]);
    expect([...toFloat32Array(tensor('F64', [1], [0.1]))]).toEqual([Math.fround(0.1)]);
  });
});

describe('byte order', () => {
  it('writes little-endian: element arrays are swapped on a big-endian host, byte views never', () => {
    const f = new Float32Array([1]);
    expect([...littleEndianSlice(f, 4, 0, 4, undefined, true)]).toEqual([0, 0, 0x80, 0x3f]);
    // Pretend the same memory came from a big-endian host: its bytes are reversed per element.
    expect([...littleEndianSlice(f, 4, 0, 4, undefined, false)]).toEqual([0x3f, 0x80, 0, 0]);
    const raw = new Uint8Array([1, 2, 3, 4]);
    expect(needsByteSwap(raw, 4, false)).toBe(false);
    expect([...littleEndianSlice(raw, 4, 0, 4, undefined, false)]).toEqual([1, 2, 3, 4]);
    const i64 = new BigInt64Array([0x0102030405060708n]);
    expect([...littleEndianSlice(i64, 8, 0, 8, undefined, false)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
