import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  FsError,
  InvalidPathError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  StorageError,
  TimeoutError,
  retryableNetworkCodes,
} from '@strata/fs-core';

/** What a failed request was doing, so one S3 answer can mean different things. */
export interface S3ErrorContext {
  protocol: string;
  /** Normalised `bucket/key` path the operation was about. */
  path: string;
  bucket?: string | undefined;
  /**
   * What a 412 Precondition Failed means here: `exists` for create-only writes (If-None-Match: *),
   * `changed` for reads or copies pinned to an ETag (If-Match).
   */
  precondition?: 'exists' | 'changed' | undefined;
}

/** The fields of an SDK or network error that the mapping looks at. */
interface RawError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  Code?: unknown;
  stack?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number | undefined; requestId?: string | undefined; extendedRequestId?: string | undefined } | undefined;
  $response?: { headers?: Record<string, string | undefined> | undefined } | undefined;
}

const permissionCodes = new Set([
  'AccessDenied',
  'AccountProblem',
  'AllAccessDisabled',
  'ExpiredToken',
  'Forbidden',
  'InvalidAccessKeyId',
  'InvalidToken',
  'NotSignedUp',
  'SignatureDoesNotMatch',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

const retryableCodes = new Set([
  // The body arrived changed (it is hashed before sending), so sending it again can succeed.
  'BadDigest',
  'XAmzContentSHA256Mismatch',
  'InternalError',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'XMinioServerNotInitialized',
]);

const invalidPathCodes = new Set(['InvalidBucketName', 'KeyTooLongError', 'InvalidObjectName', 'XMinioInvalidObjectName']);

/** Removes anything that looks like a signature or a credential from text we pass on. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"]+/gi, '$1<redacted>')
    .replace(/(x-amz-security-token["']?\s*[:=]\s*["']?)[^\s"',;&]+/gi, '$1<redacted>')
    .replace(/(Signature=)[^,&\s"]+/g, '$1<redacted>')
    .replace(/(Credential=)[^,&\s"]+/g, '$1<redacted>');
}

/** Socket failures the SDK renames `TimeoutError` although nothing timed out (all of them retryable network codes). */
const connectionDropCodes = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/**
 * S3 bucket naming rules (3–63 characters of lower-case letters, digits, dots and hyphens, starting
 * and ending with a letter or digit). Used only to explain a bodiless 400, never to refuse a request,
 * so legacy buckets with other names still work.
 */
export function isValidBucketName(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !bucket.includes('..');
}

/**
 * The part of an SDK error that is safe to keep as `cause`: the SDK error itself holds the raw
 * request (`$response.body.req._header`: session token, SigV4 signature), so it must not be reachable.
 */
export class S3ErrorCause extends Error {
  readonly code: string | undefined;
  readonly status: number | undefined;
  readonly requestId: string | undefined;

  constructor(error: unknown, depth = 0) {
    const raw: RawError = typeof error === 'object' && error !== null ? error : { message: String(error) };
    const message = typeof raw.message === 'string' ? scrubSecrets(raw.message).slice(0, 500) : '';
    const inner = depth < 3 && typeof raw.cause === 'object' && raw.cause !== null ? new S3ErrorCause(raw.cause, depth + 1) : undefined;
    super(message, inner === undefined ? undefined : { cause: inner });
    this.name = typeof raw.name === 'string' && raw.name ? raw.name : 'Error';
    const code = typeof raw.code === 'string' ? raw.code : typeof raw.Code === 'string' ? raw.Code : undefined;
    this.code = code;
    this.status = raw.$metadata?.httpStatusCode;
    this.requestId = raw.$metadata?.requestId ?? raw.$metadata?.extendedRequestId;
    // Keep the original call frames for debugging, but not its first line (the unscrubbed message).
    const frames = typeof raw.stack === 'string' ? raw.stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
    this.stack = [`${this.name}: ${message}`, ...frames.map(scrubSecrets)].join('\n');
  }
}

function where(ctx: S3ErrorContext): string {
  return `${ctx.protocol}://${ctx.path}`;
}

/**
 * Maps anything the S3 client (or the network under it) throws to the fs-core hierarchy.
 * HEAD answers carry no body, so the status code decides when there is no error code.
 */
export function mapS3Error(error: unknown, ctx: S3ErrorContext): FsError {
  if (error instanceof FsError) return error;
  const raw = (typeof error === 'object' && error !== null ? error : {}) as RawError;
  const name = typeof raw.name === 'string' ? raw.name : '';
  const nodeCode = typeof raw.code === 'string' ? raw.code : '';
  const status = raw.$metadata?.httpStatusCode;
  const base = { path: ctx.path, protocol: ctx.protocol, cause: new S3ErrorCause(error) };
  const message = typeof raw.message === 'string' ? raw.message : '';
  // The SDK names ECONNRESET/EPIPE errors `TimeoutError`; a dropped connection is not a timeout.
  const connectionDropped = connectionDropCodes.has(nodeCode) || (status === undefined && /socket hang up/i.test(message));
  const shownName = connectionDropped ? nodeCode || 'connection reset' : name && name !== 'Error' ? name : nodeCode;
  const label = [shownName, status ? `HTTP ${status}` : ''].filter(Boolean).join(', ');
  const detail = label ? ` (${label})` : '';

  if (name === 'AbortError' || nodeCode === 'ABORT_ERR') return new AbortError(base);
  if (name === 'TimeoutError' && status === undefined && !connectionDropped) return new TimeoutError(base);

  if (name === 'NoSuchBucket') {
    const bucket = ctx.bucket ?? ctx.path.split('/')[0];
    return new NotFoundError(base, `No such bucket: ${ctx.protocol}://${bucket}${bucket === ctx.path ? '' : ` (for ${where(ctx)})`}`);
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    if (name === 'NoSuchUpload') return new StorageError(base, `Multipart upload no longer exists${detail}: ${where(ctx)}`);
    return new NotFoundError(base);
  }
  if (name === 'RequestTimeTooSkewed') {
    // A 403 about the clock, not the credentials. The answer's Date corrected the clock offset
    // (the SDK's signer, or SignedRequests), so a retry is signed with the server's time.
    return new StorageError({ ...base, retryable: true }, `This machine's clock is too far from the server's${detail}: ${where(ctx)}`);
  }
  if (permissionCodes.has(name) || status === 401 || status === 403) {
    return new PermissionDeniedError(base, `Permission denied${detail}; check credentials and access rights: ${where(ctx)}`);
  }
  if (name === 'PreconditionFailed' || status === 412) {
    if (ctx.precondition === 'exists') return new AlreadyExistsError(base);
    if (ctx.precondition === 'changed') return new ConflictError(base, `Object changed since it was opened (ETag no longer matches): ${where(ctx)}`);
    return new StorageError(base, `Precondition failed${detail}: ${where(ctx)}`);
  }
  if (name === 'ConditionalRequestConflict' || (status === 409 && ctx.precondition !== undefined)) {
    // S3 asks to start the whole upload again; a plain retry of the same request would not help.
    return new ConflictError(base, `A concurrent conditional write to the same key got in the way${detail}: ${where(ctx)}`);
  }
  if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') {
    return new AlreadyExistsError(base, `Bucket already exists${detail}: ${where(ctx)}`);
  }
  const bucket = ctx.bucket ?? ctx.path.split('/')[0] ?? '';
  // HEAD answers have no body, so an invalid bucket name arrives as a bare 400 ("Unknown"/"BadRequest").
  const bareBadRequest = status === 400 && !retryableCodes.has(name) && (name === '' || name === 'Unknown' || name === 'BadRequest');
  if (bareBadRequest && bucket !== '' && !isValidBucketName(bucket)) {
    return new InvalidPathError(base, `Invalid bucket name ${JSON.stringify(bucket)} (S3 bucket names are 3-63 characters of a-z, 0-9, '.' and '-')${detail}: ${where(ctx)}`);
  }
  if (invalidPathCodes.has(name)) return new InvalidPathError(base, `Invalid bucket or key${detail}: ${where(ctx)}`);
  if (name === 'NotImplemented' || status === 501) {
    return new NotSupportedError(base, `Not supported by this S3 server${detail}: ${where(ctx)}`);
  }

  const throttled = retryableCodes.has(name) || status === 429 || status === 503;
  const retryable =
    throttled ||
    (status !== undefined && status >= 500) ||
    retryableNetworkCodes.has(nodeCode) ||
    retryableNetworkCodes.has(name) ||
    connectionDropped ||
    name === 'TimeoutError' ||
    raw.$retryable !== undefined;
  // S3's own message (or the client's, for config errors like a missing region) says what went wrong.
  const said = message && message !== 'UnknownError' ? `: ${scrubSecrets(message).slice(0, 300)}` : '';
  const mapped = new StorageError({ ...base, retryable }, `S3 request failed${detail}: ${where(ctx)}${said}`);
  const retryAfter = Number(raw.$response?.headers?.['retry-after']);
  if (throttled && Number.isFinite(retryAfter) && retryAfter >= 0) {
    Object.assign(mapped, { retryAfterMs: retryAfter * 1000 });
  }
  return mapped;
}
