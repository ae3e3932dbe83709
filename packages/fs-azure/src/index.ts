import { fromAdapter, type FileSystem } from '@strata/fs-core';
import { AzureBlobAdapter } from './adapter.js';
import type { AzureBlobOptions } from './connection.js';

export { AzureBlobAdapter } from './adapter.js';
export type { AzureBlobOptions } from './connection.js';
export { parseAzureUrl, AZURE_PROTOCOLS } from './url.js';
export type { AzureUrlParts } from './url.js';
export { toFsError as azureErrorToFsError } from './errors.js';

/** An Azure Blob Storage filesystem (`az://`, `abfs://`, `azure://`; paths are `container/blob`). */
export function createFileSystem(options: AzureBlobOptions = {}, protocol = 'az'): FileSystem {
  return fromAdapter(new AzureBlobAdapter(options, protocol), options);
}
