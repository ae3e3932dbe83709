import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { resolveRequestTimeouts, type FileSystemOptions, type RequestTimeouts } from '@strata/fs-core';

const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MiB;
export const DEFAULT_PART_SIZE = 8 * MiB;
export const DEFAULT_UPLOAD_CONCURRENCY = 4;
/** CopyObject copies at most 5 GiB in one request; larger objects need UploadPartCopy. */
export const MAX_SINGLE_COPY = 5 * 1024 * MiB;
export const DEFAULT_COPY_PART_SIZE = 512 * MiB;
export const MAX_PARTS = 10_000;

export interface S3AdapterOptions {
  /** Custom endpoint (MinIO, R2, Ceph...). Defaults to AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then AWS. */
  endpoint?: string | undefined;
  /** Defaults to the SDK chain (AWS_REGION, profile); 'us-east-1' when a custom endpoint is set and none is found. */
  region?: string | undefined;
  /** Static keys or a provider; defaults to the SDK's default credential chain. */
  credentials?: S3ClientConfig['credentials'];
  /** Path-style URLs (`endpoint/bucket/key`). Defaults to true with a custom endpoint, false on AWS. */
  forcePathStyle?: boolean | undefined;
  /** A client you already have. The adapter uses it as is and never destroys it. */
  client?: S3Client | undefined;
  /** Multipart part size in bytes (default 8 MiB, minimum 5 MiB). Objects up to 10,000 parts. */
  partSize?: number | undefined;
  /** Parts of one upload (or one multipart copy) in flight at once (default 4). */
  uploadConcurrency?: number | undefined;
  /**
   * Tries per request inside the AWS SDK (default 1: fs-core's retry policy retries instead, so
   * the two would multiply). Ignored for an injected client.
   */
  maxAttempts?: number | undefined;
  /** Objects larger than this are copied with UploadPartCopy (default and maximum 5 GiB). */
  multipartCopyThreshold?: number | undefined;
  /** Part size of a multipart copy (default 512 MiB; raised to stay within 10,000 parts). */
  copyPartSize?: number | undefined;
  /**
   * Inactivity limit of every request, in ms (default 60 s): a try fails with a retryable
   * TimeoutError when the server sends nothing for this long, while connected (waiting for the
   * answer's headers, then between pieces of its body) or while a request body cannot go out. A
   * slow transfer that keeps moving is never cut. 0 turns it off. Not applied to an injected
   * client or a `clientConfig.requestHandler`, which keep their own settings.
   */
  readTimeoutMs?: number | undefined;
  /** Limit for setting up a connection, in ms (default 10 s); then the try fails with a retryable TimeoutError. 0 turns it off. */
  connectTimeoutMs?: number | undefined;
  /** Any further S3Client settings (requestHandler, logger...). Explicit options above win. */
  clientConfig?: S3ClientConfig | undefined;
}

export type S3FileSystemOptions = S3AdapterOptions & FileSystemOptions;

export interface ResolvedS3Options {
  partSize: number;
  uploadConcurrency: number;
  multipartCopyThreshold: number;
  copyPartSize: number;
}

/**
 * The limits each client built by createS3Client was given, for the requests that bypass the SDK
 * (SignedRequests) to use the same ones.
 */
const clientTimeouts = new WeakMap<S3Client, RequestTimeouts>();

/** The limits of a client createS3Client built (the defaults for any other). */
export function timeoutsOf(client: S3Client): RequestTimeouts {
  return clientTimeouts.get(client) ?? resolveRequestTimeouts({});
}

export function resolveTuning(options: S3AdapterOptions): ResolvedS3Options {
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE) {
    throw new RangeError(`partSize must be an integer of at least ${MIN_PART_SIZE} bytes (5 MiB), got ${partSize}`);
  }
  const uploadConcurrency = options.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  if (!Number.isInteger(uploadConcurrency) || uploadConcurrency < 1) {
    throw new RangeError(`uploadConcurrency must be a positive integer, got ${uploadConcurrency}`);
  }
  const multipartCopyThreshold = options.multipartCopyThreshold ?? MAX_SINGLE_COPY;
  if (!(multipartCopyThreshold >= 0 && multipartCopyThreshold <= MAX_SINGLE_COPY)) {
    throw new RangeError(`multipartCopyThreshold must be between 0 and 5 GiB, got ${multipartCopyThreshold}`);
  }
  const copyPartSize = options.copyPartSize ?? DEFAULT_COPY_PART_SIZE;
  if (!Number.isInteger(copyPartSize) || copyPartSize < MIN_PART_SIZE || copyPartSize > MAX_SINGLE_COPY) {
    throw new RangeError(`copyPartSize must be an integer between 5 MiB and 5 GiB, got ${copyPartSize}`);
  }
  return { partSize, uploadConcurrency, multipartCopyThreshold, copyPartSize };
}

/** The endpoint the SDK will use from explicit options or the environment, if any. */
function configuredEndpoint(options: S3AdapterOptions, env: NodeJS.ProcessEnv): string | undefined {
  if (options.endpoint) return options.endpoint;
  if (options.clientConfig?.endpoint) return 'from clientConfig';
  const ignore = (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true';
  if (ignore) return undefined;
  // The SDK reads these itself; we only need to know whether one is set.
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

/** The SDK's own region chain (env, shared config), or undefined if it finds none. */
async function regionFromSdkChain(): Promise<string | undefined> {
  const probe = new S3Client({});
  try {
    return await probe.config.region();
  } catch {
    return undefined;
  } finally {
    probe.destroy();
  }
}

/**
 * Options for `client.send`: none without a signal, since any per-call options make the SDK
 * resolve its middleware stack again instead of using the one cached per command.
 */
export function sendOptions(signal: AbortSignal | undefined): { abortSignal: AbortSignal } | undefined {
  return signal ? { abortSignal: signal } : undefined;
}

export function createS3Client(options: S3AdapterOptions, env: NodeJS.ProcessEnv = process.env): S3Client {
  const endpoint = configuredEndpoint(options, env);
  const timeouts = resolveRequestTimeouts(options);
  const config: S3ClientConfig = { ...options.clientConfig };
  // The SDK sets no limit of its own: a server that accepts the connection and never answers would
  // hold a HeadObject or ListObjectsV2 forever. socketTimeout is an inactivity limit (a transfer
  // that keeps moving is not cut); requestTimeout, a limit on the whole request, stays unset.
  config.requestHandler ??= {
    connectionTimeout: timeouts.connectTimeoutMs || undefined,
    socketTimeout: timeouts.readTimeoutMs || undefined,
  };
  config.maxAttempts = options.maxAttempts ?? options.clientConfig?.maxAttempts ?? 1;
  // Resolving the middleware stack per request costs a noticeable share of a small object's CPU.
  config.cacheMiddleware = options.clientConfig?.cacheMiddleware ?? true;
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.credentials) config.credentials = options.credentials;
  config.forcePathStyle = options.forcePathStyle ?? options.clientConfig?.forcePathStyle ?? endpoint !== undefined;
  if (options.region) {
    config.region = options.region;
  } else if (!config.region && endpoint !== undefined) {
    // S3-compatible servers rarely care about the region, but SigV4 needs one.
    let region: Promise<string> | undefined;
    config.region = () => (region ??= regionFromSdkChain().then((found) => found ?? 'us-east-1'));
  }
  const client = new S3Client(config);
  clientTimeouts.set(client, timeouts);
  return client;
}
