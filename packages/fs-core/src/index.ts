export * from './errors.js';
export type * from './types.js';
export { PartWriter } from './part-writer.js';
export type { PartUploader, PartWriterOptions } from './part-writer.js';
export { splitBucketPath } from './paths.js';
