export { DTYPES, dtypeByteSize, isDType } from './dtypes.js';
export type { DType, FileDType, ForeignDType } from './dtypes.js';
export {
  tensor,
  fromTypedArray,
  isTensor,
  numel,
  float16Bits,
  float16Value,
  bfloat16Bits,
  bfloat16Value,
  float32ToFloat16,
  float16ToFloat32,
  float32ToBFloat16,
  bfloat16ToFloat32,
  toFloat32Array,
} from './tensor.js';
export type { Tensor } from './tensor.js';
export { CorruptCheckpointError, StateDictMismatchError, UnstorableValueError } from './errors.js';
export type { CorruptReason, TensorMismatch } from './errors.js';
export { saveCheckpoint, serializeCheckpoint, serializeSafetensors } from './save.js';
export type { SaveOptions } from './save.js';
export { loadCheckpoint, readCheckpointInfo, deserializeCheckpoint, readCheckpointInfoFromBytes, HEADER_PROBE_BYTES, MAX_RANGE_BYTES } from './load.js';
export type { LoadOptions, CheckpointInfo, TensorInfo } from './load.js';
export { FsCheckpointIO, AsyncCheckpointIO, snapshotCheckpoint } from './io.js';
export type { CheckpointIO, FsCheckpointIOOptions, AsyncCheckpointIOOptions } from './io.js';
export { loadStateDict } from './state-dict.js';
export type { StateDict, LoadStateDictOptions, LoadStateDictResult } from './state-dict.js';
export { escapeSegment, unescapeSegment, joinKeyPath, splitKeyPath } from './tree.js';
export { FORMAT, FORMAT_VERSION } from './strata.js';
export { MAX_HEADER_BYTES } from './safetensors.js';
export type { StorageCallOptions } from './storage.js';
