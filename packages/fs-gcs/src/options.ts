import { Storage, type StorageOptions } from '@google-cloud/storage';
import { resolveRequestTimeouts, type FileSystemOptions, type RequestTimeouts } from '@strata/fs-core';

/** Service-account JSON fields the SDK reads; `client_email` + `private_key` also allow signing URLs. */
export interface GcsCredentials {
  client_email?: string;
  private_key?: string;
  project_id?: string;
  type?: string;
  [field: string]: unknown;
}

export interface GcsOptions extends FileSystemOptions {
  /** Project for bucket creation; read from the credentials or the environment when omitted. */
  projectId?: string | undefined;
  /** Path to a service-account key file. */
  keyFilename?: string | undefined;
  /** A parsed service-account key. */
  credentials?: GcsCredentials | undefined;
  /**
   * JSON/upload API origin, e.g. `http://127.0.0.1:4443` for fake-gcs-server. A trailing
   * `/storage/v1` is accepted and stripped. Default: `STORAGE_EMULATOR_HOST`, else Google's endpoint.
   */
  apiEndpoint?: string | undefined;
  /** Authenticate against a custom `apiEndpoint` too (the SDK sends no token there by default). */
  useAuthWithCustomEndpoint?: boolean | undefined;
  /** A ready client; the other connection options are then ignored. */
  storage?: Storage | undefined;
  /** Resumable upload chunk in bytes: a multiple of 256 KiB (default 8 MiB). Memory per writer is about one chunk. */
  chunkSize?: number | undefined;
  /** Objects larger than this use a resumable session; smaller ones go up in one request at commit (default: chunkSize). */
  resumableThreshold?: number | undefined;
  /** Objects per listing page (default 1000, the GCS maximum). */
  listPageSize?: number | undefined;
  /** Parallel deletes inside one `removeMany` batch (default 8). */
  removeConcurrency?: number | undefined;
  /**
   * Retries of the SDK client this package creates (exposed as `GcsAdapter.storage`). The
   * filesystem sends no request through the SDK; fs-core's `retry` option governs its retries.
   */
  sdkRetryOptions?: SdkRetryOptions | undefined;
  /**
   * A fetch to send every request through (tests, proxies, tracing). Default: undici's `request` on
   * a connection pool of the filesystem's own, which close() releases. Its timeouts are its own:
   * `readTimeoutMs` and `connectTimeoutMs` do not apply to it.
   */
  fetch?: typeof fetch | undefined;
  /**
   * Inactivity limit of every request, in ms (default 60 s): a try fails with a retryable
   * TimeoutError when the server sends nothing for this long (waiting for the answer's headers,
   * then between pieces of its body) or a request body cannot go out. A slow transfer that keeps
   * moving is never cut. Also the limit of a token request of the SDK's auth client. 0 turns it off.
   */
  readTimeoutMs?: number | undefined;
  /** Limit for setting up a connection, in ms (default 10 s); then the try fails with a retryable TimeoutError. 0 turns it off. */
  connectTimeoutMs?: number | undefined;
}

/**
 * The limits the last createStorage call was given for a client, read by the GcsHttp built on it
 * right after (an injected client may serve several filesystems, each with its own limits).
 */
const storageTimeouts = new WeakMap<Storage, RequestTimeouts>();

/** The limits createStorage was last given for `storage` (the defaults for any other client). */
export function timeoutsOf(storage: Storage): RequestTimeouts {
  return storageTimeouts.get(storage) ?? resolveRequestTimeouts({});
}

/** The SDK's retry settings (not exported under a name of its own). */
export type SdkRetryOptions = NonNullable<StorageOptions['retryOptions']>;

export const MIB = 1024 * 1024;
export const CHUNK_GRANULARITY = 256 * 1024;
export const DEFAULT_CHUNK_SIZE = 8 * MIB;

/**
 * Turns an endpoint setting into an origin (`scheme://host[:port]` plus any base path), without the
 * `/storage/v1` suffix the JSON API adds. `defaultScheme` applies when the value has none.
 */
export function normalizeEndpoint(raw: string, defaultScheme: 'http' | 'https'): string {
  let value = raw.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) value = `${defaultScheme}://${value}`;
  value = value.replace(/\/+$/, '');
  return value.replace(/\/storage\/v1$/, '');
}

/**
 * The origin this client talks to, or undefined for Google's default endpoint.
 * `STORAGE_EMULATOR_HOST` is honoured like the SDK does (it wins over nothing, loses to
 * `apiEndpoint`, and switches authentication off), but it may be given with or without
 * `/storage/v1` and without a scheme (then http, as the Go and Python clients assume).
 */
export function resolveEndpoint(options: GcsOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (options.apiEndpoint) return normalizeEndpoint(options.apiEndpoint, 'https');
  const emulator = env['STORAGE_EMULATOR_HOST'];
  if (emulator) return normalizeEndpoint(emulator, 'http');
  return undefined;
}

/** Builds the SDK client from the options, with SDK retries off unless asked for. */
export function createStorage(options: GcsOptions): Storage {
  const timeouts = resolveRequestTimeouts(options);
  if (options.storage) {
    storageTimeouts.set(options.storage, timeouts);
    return options.storage;
  }
  const origin = resolveEndpoint(options);
  const storage = new Storage({
    ...(options.projectId ? { projectId: options.projectId } : {}),
    ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(origin ? { apiEndpoint: origin } : {}),
    ...(options.useAuthWithCustomEndpoint ? { useAuthWithCustomEndpoint: true } : {}),
    retryOptions: { autoRetry: false, ...options.sdkRetryOptions },
    // Token requests of the auth client (gaxios) have no limit of their own. Their answers are
    // small, so gaxios's limit on a whole request serves as the inactivity limit there.
    ...(timeouts.readTimeoutMs > 0 ? { clientOptions: { transporterOptions: { timeout: timeouts.readTimeoutMs } } } : {}),
  });
  storageTimeouts.set(storage, timeouts);
  // With STORAGE_EMULATOR_HOST set the SDK uses its raw value as the JSON base URL, which only works
  // when it ends in /storage/v1 (and then breaks upload URLs). Pin the base to the resolved origin.
  if (origin) storage.baseUrl = `${origin}/storage/v1`;
  return storage;
}

/** The origin of an existing client (its `apiEndpoint`, without `/storage/v1`). */
export function originOf(storage: Storage): string {
  return normalizeEndpoint(storage.apiEndpoint, 'https');
}

export function validateChunkSize(chunkSize: number): number {
  if (!Number.isInteger(chunkSize) || chunkSize <= 0 || chunkSize % CHUNK_GRANULARITY !== 0) {
    throw new RangeError(`chunkSize must be a positive multiple of 256 KiB (262144 bytes), got ${chunkSize}`);
  }
  return chunkSize;
}
