import type { Tensor } from '@strata/checkpoint';

/** A parameter or optimizer buffer: always F32 backed by its own Float32Array. */
export interface F32Tensor extends Tensor {
  dtype: 'F32';
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A new F32 tensor; zero-filled unless `data` is given (it is used as is, not copied). */
export function tensorF32(shape: readonly number[], data?: Float32Array | ArrayLike<number>): F32Tensor {
  const size = numel(shape);
  const values = data === undefined ? new Float32Array(size) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (values.length !== size) {
    throw new RangeError(`Tensor data has ${values.length} values but shape [${shape.join(', ')}] needs ${size}`);
  }
  return { dtype: 'F32', shape: [...shape], data: values };
}

export function cloneF32(t: F32Tensor): F32Tensor {
  return { dtype: 'F32', shape: [...t.shape], data: t.data.slice() };
}

export function isTensor(value: unknown): value is Tensor {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Partial<Tensor>;
  return typeof t.dtype === 'string' && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The values of an F32 tensor as a Float32Array. Accepts a tensor whose data is a byte view
 * (what a loader may hand back) and reads it little-endian, copying only when it must.
 */
export function f32Values(t: Tensor, name = 'tensor'): Float32Array {
  if (t.dtype !== 'F32') throw new TypeError(`${name}: expected dtype F32, got ${t.dtype}`);
  const expected = numel(t.shape);
  let values: Float32Array;
  if (t.data instanceof Float32Array) {
    values = t.data;
  } else {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (bytes.byteLength !== expected * 4) {
      throw new RangeError(`${name}: ${bytes.byteLength} bytes do not hold ${expected} F32 values`);
    }
    values = new Float32Array(expected);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < expected; i++) values[i] = view.getFloat32(i * 4, true);
  }
  if (values.length !== expected) {
    throw new RangeError(`${name}: ${values.length} values do not match shape [${t.shape.join(', ')}]`);
  }
  return values;
}
