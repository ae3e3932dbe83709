import { fromAdapter, type FileSystem } from '@strata/fs-core';

import { GcsAdapter } from './adapter.js';
import type { GcsOptions } from './options.js';

export { GcsAdapter, GCS_PROTOCOLS } from './adapter.js';
export type { GcsProtocol } from './adapter.js';
export type { GcsOptions, GcsCredentials } from './options.js';
export { resolveEndpoint } from './options.js';
export { GcsUploader, GcsWriter } from './uploader.js';

/** The `gs://` / `gcs://` filesystem. fs-core's registry calls this on first use of either protocol. */
export function createFileSystem(options: GcsOptions = {}, protocol: string = 'gs'): FileSystem {
  return fromAdapter(new GcsAdapter(options, protocol), options);
}
