import { DTYPES, HOST_IS_LITTLE_ENDIAN, dtypeByteSize, isDType, naturalArrayConstructor, type DType, type NaturalArray } from './dtypes.js';

/**
 * A dense, row-major tensor. `data` holds the elements:
 * - a typed array of the dtype's natural type (Float32Array for F32, BigInt64Array for I64,
 *   Uint16Array of raw bits for F16 and BF16, Uint8Array of 0/1 for BOOL, ...), in host byte order; or
 * - any byte view (Uint8Array, Int8Array, Uint8ClampedArray, DataView) of the raw little-endian bytes.
 * Loaded tensors always carry the natural typed array.
 */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;
}

const Float16ArrayCtor: (new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView) | undefined =
  (globalThis as { Float16Array?: new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView }).Float16Array;

/** Number of elements of a shape; 1 for a scalar (`[]`). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Why `shape` is not a valid shape, or undefined. */
export function shapeProblem(shape: unknown): string | undefined {
  if (!Array.isArray(shape)) return 'shape must be an array of non-negative integers';
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return `shape ${JSON.stringify(shape)} must hold non-negative integers`;
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return `shape ${JSON.stringify(shape)} has more elements than can be addressed`;
  }
  return undefined;
}

function isByteView(data: ArrayBufferView): boolean {
  return data instanceof Uint8Array || data instanceof Int8Array || data instanceof Uint8ClampedArray || data instanceof DataView;
}

/** Multi-byte typed arrays accepted as host-order elements for each dtype. */
function acceptsElementArray(dtype: DType, data: ArrayBufferView): boolean {
  switch (dtype) {
    case 'F64':
      return data instanceof Float64Array;
    case 'F32':
      return data instanceof Float32Array;
    case 'F16':
      return data instanceof Uint16Array || (Float16ArrayCtor !== undefined && data instanceof Float16ArrayCtor);
    case 'BF16':
    case 'U16':
      return data instanceof Uint16Array;
    case 'I64':
      return data instanceof BigInt64Array;
    case 'I32':
      return data instanceof Int32Array;
    case 'I16':
      return data instanceof Int16Array;
    case 'U32':
      return data instanceof Uint32Array;
    case 'U64':
      return data instanceof BigUint64Array;
    default:
      return false;
  }
}

/** Why `value` is not a storable tensor, or undefined when it is one. */
export function tensorProblem(value: { dtype: unknown; shape: unknown; data: unknown }): string | undefined {
  const { dtype, shape, data } = value;
  if (!isDType(dtype)) return `unknown dtype ${JSON.stringify(dtype)} (known: ${DTYPES.join(', ')})`;
  const bad = shapeProblem(shape);
  if (bad) return bad;
  if (!ArrayBuffer.isView(data)) return 'tensor data must be a typed array or DataView';
  const size = dtypeByteSize(dtype);
  if (size > 1 && !isByteView(data) && !acceptsElementArray(dtype, data)) {
    return `a ${dtype} tensor cannot hold a ${data.constructor.name} (use ${naturalArrayConstructor(dtype).name} or raw little-endian bytes in a Uint8Array)`;
  }
  const expected = numel(shape as number[]) * size;
  if (data.byteLength !== expected) {
    return `${dtype}${JSON.stringify(shape)} needs ${expected} bytes but its data has ${data.byteLength}`;
  }
  if (dtype === 'BOOL') {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 1) return `BOOL tensor holds ${bytes[i]} at element ${i}; only 0 and 1 are allowed`;
  }
  return undefined;
}

/** Structural test: anything with a known dtype, an array shape and a typed-array `data` is a tensor. */
export function isTensor(value: unknown): value is Tensor {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<Tensor>;
  return isDType(v.dtype) && Array.isArray(v.shape) && ArrayBuffer.isView(v.data);
}

function elementsFrom(dtype: DType, values: ArrayLike<number | bigint | boolean> | ArrayBufferView): NaturalArray {
  const n = (values as ArrayLike<unknown>).length;
  const Ctor = naturalArrayConstructor(dtype);
  const out = new Ctor(n);
  const src = values as ArrayLike<number | bigint | boolean>;
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    switch (dtype) {
      case 'F16':
        out[i] = float16Bits(Number(v));
        break;
      case 'BF16':
        out[i] = bfloat16Bits(Number(v));
        break;
      case 'BOOL':
        out[i] = v ? 1 : 0;
        break;
      case 'I64':
      case 'U64': {
        const big = typeof v === 'bigint' ? v : BigInt(typeof v === 'boolean' ? Number(v) : v);
        out[i] = dtype === 'I64' ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big);
        break;
      }
      default:
        out[i] = Number(v);
    }
  }
  return out;
}

/** Element view of little-endian bytes: a zero-copy view when possible, else an aligned copy. */
export function elementsFromLittleEndian(dtype: DType, bytes: Uint8Array): NaturalArray {
  const Ctor = naturalArrayConstructor(dtype);
  const size = dtypeByteSize(dtype);
  const count = bytes.byteLength / size;
  if (size === 1 || (HOST_IS_LITTLE_ENDIAN && bytes.byteOffset % size === 0)) {
    return new Ctor(bytes.buffer, bytes.byteOffset, count);
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytesInPlace(copy, size);
  return new Ctor(copy.buffer, 0, count);
}

/**
 * Builds a tensor. `data` may be:
 * - omitted: zeros;
 * - the natural typed array for the dtype (kept, not copied);
 * - a Uint8Array of raw little-endian bytes (viewed when aligned, copied otherwise);
 * - any other array or typed array of values, converted element by element (F16/BF16 values are
 *   rounded to nearest-even; BOOL takes truthiness). A Uint16Array for F16/BF16 is raw bits, not values.
 */
export function tensor(dtype: DType, shape: readonly number[], data?: ArrayLike<number | bigint | boolean> | ArrayBufferView): Tensor {
  if (!isDType(dtype)) throw new TypeError(`Unknown dtype ${JSON.stringify(dtype)} (known: ${DTYPES.join(', ')})`);
  const badShape = shapeProblem(shape);
  if (badShape) throw new TypeError(badShape);
  const count = numel(shape);
  let elements: ArrayBufferView;
  if (data === undefined) {
    elements = new (naturalArrayConstructor(dtype))(count);
  } else if (ArrayBuffer.isView(data) && (acceptsElementArray(dtype, data) || data.constructor === naturalArrayConstructor(dtype))) {
    elements = data;
  } else if (data instanceof Uint8Array || data instanceof DataView) {
    elements = elementsFromLittleEndian(dtype, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } else {
    elements = elementsFrom(dtype, data);
  }
  const result: Tensor = { dtype, shape: [...shape], data: elements };
  const problem = tensorProblem(result);
  if (problem) throw new TypeError(problem);
  return result;
}

/** The dtype a bare typed array is stored as, or undefined for views that have none. */
export function dtypeOfArray(array: ArrayBufferView): DType | undefined {
  if (array instanceof Float64Array) return 'F64';
  if (array instanceof Float32Array) return 'F32';
  if (Float16ArrayCtor !== undefined && array instanceof Float16ArrayCtor) return 'F16';
  if (array instanceof BigInt64Array) return 'I64';
  if (array instanceof Int32Array) return 'I32';
  if (array instanceof Int16Array) return 'I16';
  if (array instanceof Int8Array) return 'I8';
  if (array instanceof Uint8Array || array instanceof Uint8ClampedArray || array instanceof DataView) return 'U8';
  if (array instanceof Uint16Array) return 'U16';
  if (array instanceof Uint32Array) return 'U32';
  if (array instanceof BigUint64Array) return 'U64';
  return undefined;
}

/** Wraps a typed array as a tensor without copying; the dtype follows the array type. */
export function fromTypedArray(array: ArrayBufferView, shape?: readonly number[]): Tensor {
  const dtype = dtypeOfArray(array);
  if (!dtype) throw new TypeError(`No dtype for ${array.constructor.name}`);
  const length = array.byteLength / dtypeByteSize(dtype);
  return tensor(dtype, shape ?? [length], array instanceof DataView ? new Uint8Array(array.buffer, array.byteOffset, array.byteLength) : array);
}

/* ------------------------------------------------------------------ */
/* Half-precision conversions                                          */
/* ------------------------------------------------------------------ */

function roundHalfEven(x: number): number {
  const r = Math.floor(x);
  const d = x - r;
  if (d > 0.5 || (d === 0.5 && r % 2 === 1)) return r + 1;
  return r;
}

/** IEEE-style binary float with `expBits` exponent and `mantBits` mantissa bits, rounded to nearest-even. */
function minifloatBits(value: number, expBits: number, mantBits: number): number {
  const signBit = 1 << (expBits + mantBits);
  const expAllOnes = ((1 << expBits) - 1) << mantBits;
  if (Number.isNaN(value)) return expAllOnes | (1 << (mantBits - 1));
  const sign = value < 0 || Object.is(value, -0) ? signBit : 0;
  const a = Math.abs(value);
  if (a === Infinity) return sign | expAllOnes;
  if (a === 0) return sign;
  const bias = (1 << (expBits - 1)) - 1;
  const minExp = 1 - bias;
  const implicit = 2 ** mantBits;
  if (a < 2 ** minExp) {
    // Subnormal: units of 2^(minExp - mantBits). Rounding up to `implicit` yields the smallest normal.
    return sign | roundHalfEven(a * 2 ** (mantBits - minExp));
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven(a * 2 ** (mantBits - e));
  if (m === 2 * implicit) {
    m = implicit;
    e += 1;
  }
  if (e > bias) return sign | expAllOnes;
  return sign | ((e + bias) << mantBits) | (m - implicit);
}

function minifloatValue(bits: number, expBits: number, mantBits: number): number {
  const sign = bits & (1 << (expBits + mantBits)) ? -1 : 1;
  const exp = (bits >>> mantBits) & ((1 << expBits) - 1);
  const mant = bits & ((1 << mantBits) - 1);
  const bias = (1 << (expBits - 1)) - 1;
  if (exp === (1 << expBits) - 1) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - bias - mantBits);
  return sign * (1 + mant / 2 ** mantBits) * 2 ** (exp - bias);
}

/** IEEE 754 half-precision bits of `value`, rounded to nearest-even. */
export function float16Bits(value: number): number {
  return minifloatBits(value, 5, 10);
}
/** The number that half-precision `bits` encode. */
export function float16Value(bits: number): number {
  return minifloatValue(bits & 0xffff, 5, 10);
}
/** bfloat16 bits of `value`, rounded to nearest-even (NaN stays NaN). */
export function bfloat16Bits(value: number): number {
  return minifloatBits(value, 8, 7);
}
/** The number that bfloat16 `bits` encode. */
export function bfloat16Value(bits: number): number {
  return minifloatValue(bits & 0xffff, 8, 7);
}

/** Float32 values → F16 raw bits. */
export function float32ToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i]!);
  return out;
}
/** F16 raw bits → Float32 values (exact: every half value is a float32). */
export function float16ToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16Value(bits[i]!);
  return out;
}
/** Float32 values → BF16 raw bits. */
export function float32ToBFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = bfloat16Bits(values[i]!);
  return out;
}
/** BF16 raw bits → Float32 values (exact). */
export function bfloat16ToFloat32(bits: ArrayLike<number>): Float32Array {
  const words = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) words[i] = (bits[i]! & 0xffff) << 16;
  return new Float32Array(words.buffer);
}

/** Values of a floating-point tensor as Float32 (F16/BF16 decoded, F64 rounded). */
export function toFloat32Array(t: Tensor): Float32Array {
  const data = t.data;
  switch (t.dtype) {
    case 'F32':
      return data instanceof Float32Array ? data : Float32Array.from(elementsFromLittleEndian('F32', bytesOf(data)) as Float32Array);
    case 'F64':
      return Float32Array.from(data instanceof Float64Array ? data : (elementsFromLittleEndian('F64', bytesOf(data)) as Float64Array));
    case 'F16':
    case 'BF16': {
      const bits = data instanceof Uint16Array ? data : (elementsFromLittleEndian(t.dtype, bytesOf(data)) as Uint16Array);
      return t.dtype === 'F16' ? float16ToFloat32(bits) : bfloat16ToFloat32(bits);
    }
    default:
      throw new TypeError(`toFloat32Array needs a floating-point tensor, got ${t.dtype}`);
  }
}

/* ------------------------------------------------------------------ */
/* Bytes                                                               */
/* ------------------------------------------------------------------ */

/** The bytes under a view, as they sit in memory. */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function swapBytesInPlace(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * True when `data`'s in-memory bytes are not already little-endian file bytes: a multi-byte
 * element array on a big-endian host. `hostLittleEndian` is a parameter so both paths are testable.
 */
export function needsByteSwap(data: ArrayBufferView, itemSize: number, hostLittleEndian = HOST_IS_LITTLE_ENDIAN): boolean {
  return !hostLittleEndian && itemSize > 1 && !isByteView(data);
}

/**
 * Little-endian file bytes of `data[start, end)` (byte offsets, multiples of `itemSize`):
 * a view when no swap is needed, else a swapped copy written into `scratch` when it is large enough.
 */
export function littleEndianSlice(
  data: ArrayBufferView,
  itemSize: number,
  start: number,
  end: number,
  scratch?: Uint8Array,
  hostLittleEndian = HOST_IS_LITTLE_ENDIAN,
): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset + start, end - start);
  if (!needsByteSwap(data, itemSize, hostLittleEndian)) return view;
  const out = scratch && scratch.length >= view.length ? scratch.subarray(0, view.length) : new Uint8Array(view.length);
  out.set(view);
  swapBytesInPlace(out, itemSize);
  return out;
}

/** A Float16Array view of F16 bits when the runtime has Float16Array; undefined otherwise. */
export function float16ArrayOf(bits: Uint16Array): ArrayBufferView | undefined {
  return Float16ArrayCtor ? new Float16ArrayCtor(bits.buffer, bits.byteOffset, bits.length) : undefined;
}
