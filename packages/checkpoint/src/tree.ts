/**
 * The object tree of a checkpoint, minus its tensors, as JSON. See README "The tree encoding".
 * Tensors and typed arrays are replaced by references to safetensors tensors named by key path.
 */
import { dtypeByteSize, type DType, type FileDType } from './dtypes.js';
import { CorruptCheckpointError, UnstorableValueError } from './errors.js';
import { hasLoneSurrogate, type JsonObject, type JsonValue } from './json.js';
import { bytesOf, dtypeOfArray, float16ArrayOf, isTensor, tensorProblem, type Tensor } from './tensor.js';

/** A tensor found while walking, in walk order. */
export interface FoundTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;
}

/** Deeper trees are refused on save; keeps the JSON within the parser's nesting limit on load. */
export const MAX_TREE_DEPTH = 200;

/**
 * Most decimal digits of a stored BigInt, on save and load: BigInt() of a long digit string blocks
 * the event loop (90 million digits: 45 s). 10 000 digits (~33 000 bits) is over twice Python's
 * default int-to-str limit.
 */
export const MAX_BIGINT_DIGITS = 10_000;
const BIGINT_LIMIT = 10n ** BigInt(MAX_BIGINT_DIGITS);

/** The keys a tensor object may have; anything else would be silently dropped by saving. */
const TENSOR_KEYS: ReadonlySet<string> = new Set(['dtype', 'shape', 'data']);

/** Key-path segment: `~` → `~0`, `.` → `~1` (as JSON Pointer does with `~` and `/`). */
export function escapeSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('.', '~1');
}

/** Inverse of escapeSegment. */
export function unescapeSegment(segment: string): string {
  return segment.replace(/~[01]/g, (m) => (m === '~1' ? '.' : '~'));
}

/** Splits a tensor name into its unescaped key-path segments. */
export function splitKeyPath(name: string): string[] {
  return name.split('.').map(unescapeSegment);
}

/** Joins unescaped keys into a tensor name. */
export function joinKeyPath(keys: readonly (string | number)[]): string {
  return keys.map((k) => escapeSegment(String(k))).join('.');
}

type ArrayTypeName =
  | 'Float64Array'
  | 'Float32Array'
  | 'Float16Array'
  | 'BigInt64Array'
  | 'Int32Array'
  | 'Int16Array'
  | 'Int8Array'
  | 'Uint8Array'
  | 'Uint8ClampedArray'
  | 'Uint16Array'
  | 'Uint32Array'
  | 'BigUint64Array'
  | 'DataView'
  | 'Buffer'
  | 'ArrayBuffer';

const ARRAY_TYPE_DTYPE: Readonly<Record<ArrayTypeName, DType>> = Object.freeze({
  Float64Array: 'F64',
  Float32Array: 'F32',
  Float16Array: 'F16',
  BigInt64Array: 'I64',
  Int32Array: 'I32',
  Int16Array: 'I16',
  Int8Array: 'I8',
  Uint8Array: 'U8',
  Uint8ClampedArray: 'U8',
  Uint16Array: 'U16',
  Uint32Array: 'U32',
  BigUint64Array: 'U64',
  DataView: 'U8',
  Buffer: 'U8',
  ArrayBuffer: 'U8',
});

const ARRAY_TYPE_OF_DTYPE: Readonly<Partial<Record<DType, ArrayTypeName>>> = Object.freeze({
  F64: 'Float64Array',
  F32: 'Float32Array',
  F16: 'Float16Array',
  I64: 'BigInt64Array',
  I32: 'Int32Array',
  I16: 'Int16Array',
  I8: 'Int8Array',
  U8: 'Uint8Array',
  U16: 'Uint16Array',
  U32: 'Uint32Array',
  U64: 'BigUint64Array',
});

/** The type a bare typed array is restored as; subclasses other than Buffer come back as their base. */
function arrayTypeName(view: ArrayBufferView): ArrayTypeName | undefined {
  if (typeof Buffer !== 'undefined' && Buffer.isBuffer(view)) return 'Buffer';
  if (view instanceof DataView) return 'DataView';
  if (view instanceof Uint8ClampedArray) return 'Uint8ClampedArray';
  const dtype = dtypeOfArray(view);
  return dtype === undefined ? undefined : ARRAY_TYPE_OF_DTYPE[dtype];
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeValue(value: unknown): string {
  if (typeof value === 'function') return `functions cannot be stored (${value.name || 'anonymous'})`;
  if (typeof value === 'symbol') return `symbols cannot be stored (${String(value)})`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return `a ${ctor ?? 'non-plain'} instance has no plain form (give it a toJSON() method or convert it first)`;
}

/** Walks `root` into its JSON tree and its tensors. Throws UnstorableValueError naming the key path. */
export function encodeTree(root: object): { tree: JsonValue; tensors: FoundTensor[] } {
  if (typeof root !== 'object' || root === null || Array.isArray(root) || !isPlainObject(root) || isTensor(root)) {
    throw new UnstorableValueError('', 'a checkpoint must be a plain object');
  }
  const tensors: FoundTensor[] = [];
  const named = new Map<object, string>();
  const names = new Set<string>();
  const ancestors = new Set<object>();

  const addTensor = (source: object, path: string, dtype: DType, shape: number[], data: ArrayBufferView): string => {
    const seen = named.get(source);
    if (seen !== undefined) return seen;
    if (hasLoneSurrogate(path)) throw new UnstorableValueError(path, 'tensor names must be valid Unicode (a key holds a lone surrogate)');
    // Only a root key can give this name; the header would then hold two "__metadata__" entries.
    if (path === '__metadata__') throw new UnstorableValueError(path, 'a tensor or typed array cannot be stored under the root key "__metadata__", which safetensors reserves for metadata');
    // Escaping makes key paths unique; this guards that reasoning rather than silently overwriting.
    if (names.has(path)) throw new Error(`Internal error: two tensors would be named ${JSON.stringify(path)}`);
    names.add(path);
    named.set(source, path);
    tensors.push({ name: path, dtype, shape, data });
    return path;
  };

  const encode = (value: unknown, path: string, depth: number, key: string, allowTensors: boolean): JsonValue => {
    // The root's children are named by their key alone; `path` is '' both at the root and for a root key "".
    const join = (segment: string): string => (depth === 0 ? segment : `${path}.${segment}`);
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isNaN(value)) return { $number: 'NaN' };
        if (value === Infinity) return { $number: 'Infinity' };
        if (value === -Infinity) return { $number: '-Infinity' };
        if (Object.is(value, -0)) return { $number: '-0' };
        return value;
      case 'bigint':
        if (value >= BIGINT_LIMIT || value <= -BIGINT_LIMIT) throw new UnstorableValueError(path, `BigInts of more than ${MAX_BIGINT_DIGITS} digits cannot be stored`);
        return { $bigint: value.toString() };
      case 'undefined':
        return { $undefined: true };
      case 'function':
      case 'symbol':
        throw new UnstorableValueError(path, describeValue(value));
    }
    if (value === null) return null;
    const obj = value as object;
    if (depth > MAX_TREE_DEPTH) throw new UnstorableValueError(path, `nesting deeper than ${MAX_TREE_DEPTH} levels`);
    if (ancestors.has(obj)) throw new UnstorableValueError(path, 'circular reference');

    if (isTensor(obj)) {
      if (!allowTensors) throw new UnstorableValueError(path, 'tensors cannot be Map keys');
      const problem = tensorProblem(obj);
      if (problem) throw new UnstorableValueError(path, `invalid tensor: ${problem}`);
      const extra = Object.keys(obj).find((k) => !TENSOR_KEYS.has(k));
      if (extra !== undefined) {
        throw new UnstorableValueError(path, `a tensor has only dtype, shape and data; its field ${JSON.stringify(extra)} would be lost (move it out of the tensor object)`);
      }
      return { $tensor: addTensor(obj, path, obj.dtype, [...obj.shape], obj.data) };
    }
    if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
      if (!allowTensors) throw new UnstorableValueError(path, 'typed arrays cannot be Map keys');
      const view = obj instanceof ArrayBuffer ? new Uint8Array(obj) : obj;
      const type = obj instanceof ArrayBuffer ? 'ArrayBuffer' : arrayTypeName(view);
      if (!type) throw new UnstorableValueError(path, `${view.constructor.name} has no safetensors dtype`);
      const dtype = ARRAY_TYPE_DTYPE[type];
      const bytes = dtypeByteSize(dtype) === 1 ? bytesOf(view) : view;
      const name = addTensor(obj, path, dtype, [view.byteLength / dtypeByteSize(dtype)], bytes);
      return { $array: { type, tensor: name } };
    }

    ancestors.add(obj);
    try {
      if (Array.isArray(obj)) {
        const out: JsonValue[] = new Array<JsonValue>(obj.length);
        for (let i = 0; i < obj.length; i++) out[i] = encode(obj[i], join(String(i)), depth + 1, String(i), allowTensors);
        return out;
      }
      if (obj instanceof Date) {
        const time = obj.getTime();
        return { $date: Number.isNaN(time) ? null : obj.toISOString() };
      }
      if (obj instanceof Map) {
        const entries = [...(obj as Map<unknown, unknown>).entries()];
        const segments = mapSegments(entries.map(([k]) => k));
        return {
          $map: entries.map(([k, v], i) => [
            encode(k, join(segments[i]!), depth + 1, '', false),
            encode(v, join(segments[i]!), depth + 1, typeof k === 'string' ? k : String(i), allowTensors),
          ]),
        };
      }
      if (obj instanceof Set) {
        return { $set: [...obj].map((v, i) => encode(v, join(String(i)), depth + 1, String(i), allowTensors)) };
      }
      if (isPlainObject(obj)) {
        const symbols = Object.getOwnPropertySymbols(obj).filter((s) => Object.prototype.propertyIsEnumerable.call(obj, s));
        if (symbols.length > 0) throw new UnstorableValueError(path, `symbol-keyed properties cannot be stored (${String(symbols[0])})`);
        const out: JsonObject = Object.create(null) as JsonObject;
        let needsWrapper = false;
        for (const k of Object.keys(obj)) {
          const childPath = join(escapeSegment(k));
          if (k === '__proto__') throw new UnstorableValueError(childPath, 'the key "__proto__" cannot be stored safely');
          if (k.startsWith('$')) needsWrapper = true;
          out[k] = encode((obj as Record<string, unknown>)[k], childPath, depth + 1, k, allowTensors);
        }
        return needsWrapper ? { $object: out } : out;
      }
      const toJSON = (obj as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        return encode(toJSON.call(obj, key), path, depth + 1, key, allowTensors);
      }
      throw new UnstorableValueError(path, describeValue(obj));
    } finally {
      ancestors.delete(obj);
    }
  };

  return { tree: encode(root, '', 0, '', true), tensors };
}

/**
 * Path segments of Map entries: a string key is its escaped self; an integer or bigint key is its
 * decimal form unless that collides with a sibling; anything else is `~k<index>` (never an escape).
 */
function mapSegments(keys: unknown[]): string[] {
  const candidate = keys.map((k, i) => {
    if (typeof k === 'string') return escapeSegment(k);
    if ((typeof k === 'number' && Number.isSafeInteger(k) && !Object.is(k, -0)) || typeof k === 'bigint') return String(k);
    return `~k${i}`;
  });
  const stringSegments = new Set(candidate.filter((_, i) => typeof keys[i] === 'string'));
  const counts = new Map<string, number>();
  for (const c of candidate) counts.set(c, (counts.get(c) ?? 0) + 1);
  return candidate.map((c, i) => (typeof keys[i] !== 'string' && (stringSegments.has(c) || counts.get(c)! > 1) ? `~k${i}` : c));
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

export interface TensorLookup {
  /** Header info of a tensor, or undefined when the file has none of that name. */
  header(name: string): { dtype: FileDType; shape: number[] } | undefined;
  /** The loaded tensor, or undefined when it was not selected. */
  loaded(name: string): Tensor | undefined;
}

const OMITTED = Symbol('omitted');

function invalid(detail: string): CorruptCheckpointError {
  return new CorruptCheckpointError('invalid-tree', detail);
}

function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function viewAs(type: ArrayTypeName, t: Tensor): unknown {
  const bytes = bytesOf(t.data);
  switch (type) {
    case 'ArrayBuffer':
      // A fresh copy: the bytes may sit in a snapshot's SharedArrayBuffer, which saving refuses.
      return new Uint8Array(bytes).buffer;
    case 'DataView':
      return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case 'Buffer':
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case 'Uint8ClampedArray':
      return new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case 'Float16Array':
      // Without a Float16Array in this runtime the raw bits come back as a Uint16Array.
      return float16ArrayOf(t.data as Uint16Array) ?? t.data;
    default:
      return t.data;
  }
}

/**
 * Rebuilds the object from its tree. Tensors not selected are left out of objects, Maps and Sets
 * and become `undefined` in arrays.
 */
export function decodeTree(tree: JsonValue, tensors: TensorLookup): Record<string, unknown> {
  const arrays = new Map<string, unknown>();

  const tensorRef = (name: JsonValue): string => {
    if (typeof name !== 'string') throw invalid('a tensor reference is not a string');
    if (!tensors.header(name)) throw invalid(`the tree refers to a tensor the file does not have: ${JSON.stringify(name)}`);
    return name;
  };

  const decode = (node: JsonValue): unknown => {
    if (node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) {
      return node.map((child) => {
        const v = decode(child);
        return v === OMITTED ? undefined : v;
      });
    }
    const keys = Object.keys(node);
    const tag = keys.length === 1 && keys[0]!.startsWith('$') ? keys[0]! : undefined;
    if (tag === undefined) {
      if (keys.some((k) => k.startsWith('$'))) throw invalid('an object mixes tagged and plain keys');
      return decodeObject(node);
    }
    const payload = node[tag]!;
    switch (tag) {
      case '$number':
        if (payload === 'NaN') return NaN;
        if (payload === 'Infinity') return Infinity;
        if (payload === '-Infinity') return -Infinity;
        if (payload === '-0') return -0;
        throw invalid(`bad $number ${JSON.stringify(payload)}`);
      case '$bigint':
        if (typeof payload !== 'string') throw invalid('bad $bigint');
        if (payload.length - (payload.startsWith('-') ? 1 : 0) > MAX_BIGINT_DIGITS) throw invalid(`a $bigint has more than ${MAX_BIGINT_DIGITS} digits`);
        if (!/^-?\d+$/.test(payload)) throw invalid('bad $bigint');
        return BigInt(payload);
      case '$undefined':
        if (payload !== true) throw invalid('bad $undefined');
        return undefined;
      case '$date': {
        if (payload === null) return new Date(NaN);
        if (typeof payload !== 'string') throw invalid('bad $date');
        const date = new Date(payload);
        if (Number.isNaN(date.getTime())) throw invalid('bad $date');
        return date;
      }
      case '$map': {
        if (!Array.isArray(payload)) throw invalid('bad $map');
        const map = new Map<unknown, unknown>();
        for (const entry of payload) {
          if (!Array.isArray(entry) || entry.length !== 2) throw invalid('bad $map entry');
          const k = decode(entry[0]!);
          const v = decode(entry[1]!);
          if (k === OMITTED) throw invalid('a $map key refers to a tensor');
          if (v !== OMITTED) map.set(k, v);
        }
        return map;
      }
      case '$set': {
        if (!Array.isArray(payload)) throw invalid('bad $set');
        const set = new Set<unknown>();
        for (const child of payload) {
          const v = decode(child);
          if (v !== OMITTED) set.add(v);
        }
        return set;
      }
      case '$object':
        if (!isJsonObject(payload)) throw invalid('bad $object');
        return decodeObject(payload);
      case '$tensor': {
        const name = tensorRef(payload);
        return tensors.loaded(name) ?? OMITTED;
      }
      case '$array': {
        if (!isJsonObject(payload)) throw invalid('bad $array');
        const type = payload['type'];
        if (typeof type !== 'string' || !Object.hasOwn(ARRAY_TYPE_DTYPE, type)) throw invalid(`bad $array type ${JSON.stringify(type)}`);
        const name = tensorRef(payload['tensor'] ?? null);
        const info = tensors.header(name)!;
        const arrayType = type as ArrayTypeName;
        if (info.dtype !== ARRAY_TYPE_DTYPE[arrayType] || info.shape.length !== 1) {
          throw invalid(`tensor ${JSON.stringify(name)} is ${info.dtype}[${info.shape.join(',')}], not a ${type}`);
        }
        const t = tensors.loaded(name);
        if (!t) return OMITTED;
        const cacheKey = `${type}\u0000${name}`;
        if (!arrays.has(cacheKey)) arrays.set(cacheKey, viewAs(arrayType, t));
        return arrays.get(cacheKey);
      }
      default:
        throw invalid(`unknown tag ${JSON.stringify(tag)}`);
    }
  };

  const decodeObject = (node: JsonObject): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(node)) {
      const v = decode(node[k]!);
      if (v !== OMITTED) defineOwn(out, k, v);
    }
    return out;
  };

  // Saving always writes an object (wrapped in $object when a key starts with "$"); any other root
  // would hand the caller a typed array, tensor, Map... in place of the checkpoint object.
  const rootKeys = isJsonObject(tree) ? Object.keys(tree) : [];
  const rootTag = rootKeys.length === 1 && rootKeys[0]!.startsWith('$') ? rootKeys[0] : undefined;
  if (!isJsonObject(tree) || (rootTag !== undefined && rootTag !== '$object')) {
    throw invalid(`the tree root is ${rootTag ?? (Array.isArray(tree) ? 'an array' : tree === null ? 'null' : `a ${typeof tree}`)}, not a plain object`);
  }
  return decode(tree) as Record<string, unknown>;
}
