import { dtypeByteSize } from './dtypes.js';
import { StateDictMismatchError, type TensorMismatch } from './errors.js';
import { bytesOf, fromTypedArray, isTensor, littleEndianSlice, needsByteSwap, swapBytesInPlace, tensorProblem, type Tensor } from './tensor.js';

/** A flat map from parameter name to tensor (a bare typed array counts as a 1-D tensor). */
export type StateDict = Record<string, Tensor | ArrayBufferView> | Map<string, Tensor | ArrayBufferView>;

export interface LoadStateDictOptions {
  /** Missing or unexpected keys throw StateDictMismatchError. Default true. */
  strict?: boolean | undefined;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

function entriesOf(dict: StateDict | Record<string, unknown>): [string, unknown][] {
  return dict instanceof Map ? [...dict.entries()] : Object.keys(dict).map((k) => [k, (dict as Record<string, unknown>)[k]]);
}

function asTensor(value: unknown): Tensor | undefined {
  if (isTensor(value)) return value;
  if (ArrayBuffer.isView(value)) {
    try {
      return fromTypedArray(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Copies `source`'s elements into `target`'s memory, respecting how each stores its bytes. */
function copyInto(target: Tensor, source: Tensor): void {
  const itemSize = dtypeByteSize(target.dtype);
  const fileOrder = littleEndianSlice(source.data, itemSize, 0, source.data.byteLength);
  const destination = bytesOf(target.data);
  destination.set(fileOrder);
  if (needsByteSwap(target.data, itemSize)) swapBytesInPlace(destination, itemSize);
}

/**
 * Loads `source` (e.g. the `state_dict` of a loaded checkpoint) into `target` in place: for every
 * key both have, the source tensor's elements are copied into the target tensor's existing memory.
 * Keys only in `target` are missing, keys only in `source` unexpected. A dtype or shape mismatch
 * throws in both modes; with `strict` (the default) missing or unexpected keys throw as well.
 * Nothing is copied when it throws.
 */
export function loadStateDict(target: StateDict, source: StateDict | Record<string, unknown>, options: LoadStateDictOptions = {}): LoadStateDictResult {
  const strict = options.strict ?? true;
  const sourceEntries = new Map(entriesOf(source));
  const targetEntries = entriesOf(target);
  const targetKeys = new Set(targetEntries.map(([k]) => k));
  const missingKeys: string[] = [];
  const mismatched: TensorMismatch[] = [];
  const pairs: [Tensor, Tensor][] = [];

  for (const [key, value] of targetEntries) {
    const into = asTensor(value);
    if (!into) throw new TypeError(`loadStateDict: target[${JSON.stringify(key)}] is not a tensor`);
    if (!sourceEntries.has(key)) {
      missingKeys.push(key);
      continue;
    }
    const from = asTensor(sourceEntries.get(key));
    const expected = { dtype: into.dtype, shape: [...into.shape] };
    if (!from) mismatched.push({ key, expected, actual: { notATensor: true } });
    else if (from.dtype !== into.dtype || !sameShape(from.shape, into.shape)) mismatched.push({ key, expected, actual: { dtype: from.dtype, shape: [...from.shape] } });
    else {
      // Checked in full before any copy: data that does not fit its dtype and shape would throw
      // midway, copy part of a tensor, or be copied bit for bit as the wrong type.
      const problem = tensorProblem(from);
      const targetProblem = problem ? undefined : tensorProblem(into);
      if (problem || targetProblem) {
        mismatched.push({ key, expected, actual: { dtype: from.dtype, shape: [...from.shape] }, problem: problem ? `source: ${problem}` : `target: ${targetProblem}` });
      } else pairs.push([into, from]);
    }
  }
  const unexpectedKeys = [...sourceEntries.keys()].filter((k) => !targetKeys.has(k));

  if (mismatched.length > 0 || (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0))) {
    throw new StateDictMismatchError(missingKeys, unexpectedKeys, mismatched);
  }
  for (const [into, from] of pairs) copyInto(into, from);
  return { missingKeys, unexpectedKeys };
}
