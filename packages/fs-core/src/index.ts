export * from './errors.js';
export type * from './types.js';
export { fromAdapter, AdaptedFileSystem } from './facade.js';
export {
  filesystem,
  urlToFs,
  registerImplementation,
  knownImplementations,
  availableProtocols,
  optionsFor,
  clearInstanceCache,
} from './registry.js';
export type { FileSystemFactory, StorageOptions } from './registry.js';
export { PartWriter } from './part-writer.js';
export type { PartUploader, PartWriterOptions } from './part-writer.js';
export { RetryPolicy, noRetry, retryableNetworkCodes } from './retry.js';
export type { RetryOptions, RetryEvent, RetryAfterHint } from './retry.js';
export { directoryMarker, splitBucketPath, splitProtocol, normalizePath } from './paths.js';
export { toBytes } from './handles.js';
export { discardBody, readBodyExactly, readErrorDocument, shortReadError } from './body.js';
export type { BodyContext } from './body.js';
export { requestBytes, requestStream } from './request-bytes.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS, pacedBody, resolveRequestTimeouts, undiciTimeouts } from './timeouts.js';
export type { RequestTimeouts } from './timeouts.js';
export type { AnswerHeaders, BytesAnswer, BytesDispatcher, BytesRequest, RefusalShaper } from './request-bytes.js';
export { LocalAdapter } from './backends/local.js';
export type { LocalAdapterOptions } from './backends/local.js';
export { MemoryAdapter, sharedMemoryVolume } from './backends/memory.js';
export type { MemoryAdapterOptions } from './backends/memory.js';
