/**
 * Element types. The first ten are the ones Strata's API is built around; U16, U32 and U64 are
 * also read and written so that any numpy-written safetensors file without float8, float4/6 or
 * complex64 tensors loads. Those (ForeignDType) are listed and size-checked, but not loaded.
 */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'U16' | 'U32' | 'U64';

/** The other dtypes the reference reader (safetensors 0.8) accepts. */
export type ForeignDType = 'F8_E4M3' | 'F8_E5M2' | 'F8_E8M0' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ' | 'F4' | 'F6_E2M3' | 'F6_E3M2' | 'C64';

/** Any dtype a valid safetensors file may hold. */
export type FileDType = DType | ForeignDType;

/** Bits per element, as the reference reader counts them (F4 and F6 pack several elements a byte). */
const FOREIGN_BITS: Readonly<Record<ForeignDType, number>> = Object.freeze({
  F8_E4M3: 8,
  F8_E5M2: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  C64: 64,
});

export const DTYPES: readonly DType[] = Object.freeze(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16', 'U32', 'U64']);

const BYTE_SIZE: Readonly<Record<DType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
});

/**
 * Position of each dtype in the reference (Rust) `safetensors::Dtype` enum, which is declared in
 * increasing alignment order. The reference writer sorts tensors by this rank, descending, then by
 * name; we do the same so our files are byte-identical to Python's for the same input.
 */
const REFERENCE_RANK: Readonly<Record<DType, number>> = Object.freeze({
  BOOL: 0,
  U8: 4,
  I8: 5,
  I16: 11,
  U16: 12,
  F16: 13,
  BF16: 14,
  I32: 15,
  U32: 16,
  F32: 17,
  F64: 19,
  I64: 20,
  U64: 21,
});

export type NaturalArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint32Array
  | BigUint64Array;

type NaturalConstructor = {
  new (length: number): NaturalArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NaturalArray;
  readonly BYTES_PER_ELEMENT: number;
};

/** The typed array a loaded tensor of each dtype carries. F16 and BF16 keep raw bits in a Uint16Array. */
const NATURAL: Readonly<Record<DType, NaturalConstructor>> = Object.freeze({
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
  U16: Uint16Array,
  U32: Uint32Array,
  U64: BigUint64Array,
} as Record<DType, NaturalConstructor>);

const DTYPE_SET: ReadonlySet<string> = new Set(DTYPES);

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && DTYPE_SET.has(value);
}

export function isFileDType(value: unknown): value is FileDType {
  return isDType(value) || (typeof value === 'string' && Object.hasOwn(FOREIGN_BITS, value));
}

/** Bits per element of any file dtype. */
export function dtypeBits(dtype: FileDType): number {
  return isDType(dtype) ? BYTE_SIZE[dtype] * 8 : FOREIGN_BITS[dtype];
}

/** Bytes per element. */
export function dtypeByteSize(dtype: DType): number {
  return BYTE_SIZE[dtype];
}

export function referenceRank(dtype: DType): number {
  return REFERENCE_RANK[dtype];
}

export function naturalArrayConstructor(dtype: DType): NaturalConstructor {
  return NATURAL[dtype];
}

export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
