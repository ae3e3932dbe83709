import { fromAdapter, type FileSystem } from '@strata/fs-core';
import { AzureBlobAdapter } from './adapter.js';
import type { AzureBlobOptions } from './connection.js';
import { parseAzureUrl } from './url.js';

export { AzureBlobAdapter } from './adapter.js';
export type { AzureBlobOptions } from './connection.js';
export { parseAzureUrl, AZURE_PROTOCOLS } from './url.js';
export type { AzureUrlParts } from './url.js';
export { toFsError as azureErrorToFsError } from './errors.js';

/** An Azure Blob Storage filesystem (`az://`, `abfs://`, `azure://`; paths are `container/blob`). */
export function createFileSystem(options: AzureBlobOptions = {}, protocol = 'az'): FileSystem {
  return fromAdapter(new AzureBlobAdapter(options, protocol), options);
}

/**
 * Registry hook: reads the account out of `abfs://container@account.dfs.core.windows.net/path`
 * so that URL works without further configuration. Options the caller gives still win.
 */
export function parseUrl(url: string): { path: string; options: Partial<AzureBlobOptions> } {
  const parts = parseAzureUrl(url);
  const options: Partial<AzureBlobOptions> = {};
  if (parts.accountName) Object.assign(options, { accountName: parts.accountName, endpointSuffix: parts.endpointSuffix });
  return { path: parts.path, options };
}
