import { fromAdapter, type FileSystem } from '@strata/fs-core';
import { S3Adapter } from './adapter.js';
import type { S3FileSystemOptions } from './options.js';

export { S3Adapter, S3_PROTOCOLS } from './adapter.js';
export { S3PartUploader } from './uploader.js';
export { mapS3Error, type S3ErrorContext } from './errors.js';
export { createS3Client, DEFAULT_PART_SIZE, MIN_PART_SIZE, type S3AdapterOptions, type S3FileSystemOptions } from './options.js';

/** An fsspec-style FileSystem over S3 or an S3-compatible server; `protocol` is 's3' or 's3a'. */
export function createFileSystem(options: S3FileSystemOptions = {}, protocol = 's3'): FileSystem {
  return fromAdapter(new S3Adapter(options, protocol), options);
}
