import { InvalidPathError, splitBucketPath } from '@strata/fs-core';

/** Protocols this package serves. `abfss` is the TLS spelling Hadoop tools use for the same URLs. */
export const AZURE_PROTOCOLS = ['az', 'abfs', 'abfss', 'azure'] as const;

export interface AzureUrlParts {
  /** Lower-cased protocol of the URL (`az`, `abfs`, `abfss` or `azure`). */
  protocol: string;
  /** `container/blob/path` (no account, no protocol), as the filesystem expects it. */
  path: string;
  /** Present when the URL names the account: `abfs://container@ACCOUNT.dfs.core.windows.net/...`. */
  accountName?: string;
  /** The cloud's endpoint suffix from such a URL, e.g. `core.windows.net` or `core.chinacloudapi.cn`. */
  endpointSuffix?: string;
}

const URL_PATTERN = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s;
// `<account>.dfs.<suffix>` (ADLS Gen2 style) or `<account>.blob.<suffix>`.
const ACCOUNT_HOST = /^([a-z0-9]{3,24})\.(?:dfs|blob)\.([a-z0-9.-]+)$/i;

/**
 * Splits an Azure URL into the filesystem path and, for the
 * `abfs://container@account.dfs.core.windows.net/dir/file` form, the account it names.
 *
 *   parseAzureUrl('az://data/x.bin')                                   → { protocol: 'az', path: 'data/x.bin' }
 *   parseAzureUrl('abfs://data@acct.dfs.core.windows.net/dir/x.bin')  → { protocol: 'abfs', path: 'data/dir/x.bin',
 *                                                                          accountName: 'acct', endpointSuffix: 'core.windows.net' }
 */
export function parseAzureUrl(url: string): AzureUrlParts {
  const match = URL_PATTERN.exec(url);
  const protocol = match?.[1]?.toLowerCase();
  if (!match || !protocol || !(AZURE_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new InvalidPathError({ path: url }, `Not an Azure Blob URL (expected ${AZURE_PROTOCOLS.join('://, ')}://): ${url}`);
  }
  const rest = match[2]!.replace(/^\/+/, '');
  const { container, accountName, endpointSuffix, remainder } = splitAccountSegment(rest, protocol);
  const path = remainder ? `${container}/${remainder}` : container;
  return accountName ? { protocol, path, accountName, endpointSuffix } : { protocol, path };
}

/** `container@account.dfs.suffix/rest` → its parts; a plain `container/rest` has no account. */
export function splitAccountSegment(
  path: string,
  protocol: string,
): { container: string; remainder: string; accountName?: string; endpointSuffix?: string } {
  const { bucket, key } = splitBucketPath(path, protocol);
  const at = bucket.indexOf('@');
  if (at === -1) return { container: bucket, remainder: key };
  const container = bucket.slice(0, at);
  const host = ACCOUNT_HOST.exec(bucket.slice(at + 1));
  if (!container || !host) {
    throw new InvalidPathError(
      { path, protocol },
      `Expected ${protocol}://container@account.dfs.core.windows.net/path, got ${protocol}://${path}`,
    );
  }
  return { container, remainder: key, accountName: host[1]!.toLowerCase(), endpointSuffix: host[2]!.toLowerCase() };
}
