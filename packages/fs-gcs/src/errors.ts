import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  FsError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  TimeoutError,
  retryableNetworkCodes,
} from '@strata/fs-core';

/** A non-2xx answer on the fetch-based data path. */
export class GcsHttpError extends Error {
  constructor(
    readonly status: number,
    readonly serverMessage: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status}${serverMessage ? `: ${serverMessage}` : ''}`);
    this.name = 'GcsHttpError';
  }
}

/**
 * The auth client could not produce a token. Its own error (a GaxiosError) carries the token or
 * metadata server's HTTP status, which says nothing about Cloud Storage: that status is kept only
 * in `cause`, where statusOf() does not look, so a 404 from a metadata server never reads as
 * "object not found".
 */
export class GcsCredentialsError extends Error {
  /** The token endpoint failed in a way that may pass (5xx, 429, 408, a network error). */
  readonly transient: boolean;

  constructor(cause: unknown) {
    super('Could not obtain Google credentials', { cause });
    this.name = 'GcsCredentialsError';
    const status = statusOf(cause);
    this.transient = status === undefined ? isNetworkError(cause) : isTransientStatus(status);
  }
}

export interface ErrorContext {
  protocol: string;
  path: string;
  /** Bucket of `path`; named in the message when the bucket itself is missing. */
  bucket?: string | undefined;
  /** The request addressed the bucket (head of a bucket root, listing). */
  bucketLevel?: boolean | undefined;
  /** The request carried ifGenerationMatch: 0, so 412 means the object exists. */
  create?: boolean | undefined;
  /** The request was pinned to a generation, so 404/412 mean the object changed underneath. */
  pinned?: boolean | undefined;
  /** What was being done, for the message ("read", "list"...). */
  action?: string | undefined;
}

/**
 * The shared retryable network codes, and ENOTFOUND: GCS retries a failed DNS lookup, as it always
 * has, since its default host is fixed rather than built from a bucket or account name that could be wrong.
 */
const NETWORK_CODES = new Set([...retryableNetworkCodes, 'ENOTFOUND']);

/** HTTP status of an SDK (ApiError, GaxiosError) or data-path error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof GcsHttpError) return error.status;
  // DOMException's numeric code (23 for TimeoutError) is not an HTTP status.
  if (typeof error !== 'object' || error === null || error instanceof DOMException) return undefined;
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown; statusCode?: unknown } };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.response?.status === 'number') return e.response.status;
  if (typeof e.response?.statusCode === 'number') return e.response.statusCode;
  if (typeof e.status === 'number') return e.status;
  return undefined;
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function isNetworkError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    // `network timeout at:` is gaxios's (node-fetch's) word for its own request timeout, e.g. on a token request.
    if (typeof message === 'string' && /fetch failed|socket hang up|other side closed|premature close|^terminated$|network timeout at/i.test(message)) return true;
  }
  return false;
}

/** A cancelled request: fetch rejects with the signal's reason, a DOMException TimeoutError for AbortSignal.timeout(). */
function isAbort(error: unknown): boolean {
  if (error instanceof DOMException) return error.name === 'AbortError' || error.name === 'TimeoutError';
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR');
}

function isMissingCredentials(message: string): boolean {
  return /could not load the default credentials|could not refresh access token|invalid_grant|unauthorized_client|invalid_client/i.test(message);
}

/** Server text safe to show: no session URIs, signatures or tokens, and not too long. */
export function redact(text: string): string {
  return text
    .replace(/(upload_id|upload_protocol|X-Goog-Signature|X-Goog-Credential|Signature|access_token|token|sig|key)=[^&\s"']+/gi, '$1=<redacted>')
    .replace(/Bearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer <redacted>')
    .replace(/ya29\.[A-Za-z0-9._~+/=-]+/g, '<redacted token>')
    .replace(/"(access_token|refresh_token|id_token|private_key|client_secret)"\s*:\s*"[^"]*"/gi, '"$1":"<redacted>"')
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g, '<redacted key>')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);
}

function serverMessageOf(error: unknown): string {
  if (error instanceof GcsHttpError) return error.serverMessage;
  if (error instanceof Error) return error.message;
  return String(error);
}

function retryAfterOf(error: unknown): number | undefined {
  if (error instanceof GcsHttpError) return error.retryAfterMs;
  const headers = (error as { response?: { headers?: unknown } } | undefined)?.response?.headers;
  let value: unknown;
  if (headers && typeof (headers as Headers).get === 'function') value = (headers as Headers).get('retry-after');
  else if (headers && typeof headers === 'object') value = (headers as Record<string, unknown>)['retry-after'];
  return parseRetryAfter(typeof value === 'string' ? value : undefined);
}

export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * A copy of an SDK/HTTP/network error that is safe to attach as `cause`: name, code, HTTP status
 * and a scrubbed message, plus the same for its own causes. The originals carry the request
 * (gaxios/teeny-request keep its headers, so the bearer token) and must not be reachable.
 */
export function sanitizeCause(error: unknown, depth = 0): unknown {
  if (error === undefined || error === null) return undefined;
  // Our own errors already carry sanitised causes.
  if (error instanceof FsError) return error;
  const source = error instanceof Error ? error : undefined;
  // A thrown non-Error object has no useful text of its own ('[object Object]').
  const message = source ? source.message : typeof error === 'string' || typeof error === 'number' ? String(error) : '';
  const copy = new Error(redact(message)) as Error & { code?: string | number; status?: number };
  copy.name = source?.name ?? 'Error';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') copy.code = code;
  const status = statusOf(error);
  if (status !== undefined) copy.status = status;
  // Stack frames hold no data; the first line (the original message) is replaced.
  const frames = source?.stack?.split('\n').filter((line) => /^\s+at /.test(line)) ?? [];
  copy.stack = [`${copy.name}: ${copy.message}`, ...frames].join('\n');
  const inner = (error as { cause?: unknown }).cause;
  if (inner !== undefined && depth < 4) copy.cause = sanitizeCause(inner, depth + 1);
  return copy;
}

/** Maps an SDK or HTTP failure to the shared hierarchy. Messages name protocol and path only. */
export function toFsError(error: unknown, ctx: ErrorContext): FsError {
  if (error instanceof FsError) return error;
  const where = `${ctx.protocol}://${ctx.path}`;
  const base = { path: ctx.path, protocol: ctx.protocol, cause: sanitizeCause(error) };
  if (isAbort(error)) return new AbortError(base);
  if (error instanceof GcsCredentialsError) {
    // Bad or missing credentials are never "not found"; a blip of the token endpoint may be retried.
    const tokenStatus = statusOf(error.cause);
    const reason = redact(serverMessageOf(error.cause));
    const why = tokenStatus !== undefined ? `token endpoint answered HTTP ${tokenStatus}${reason ? `: ${reason}` : ''}` : reason;
    return new PermissionDeniedError(
      { ...base, retryable: error.transient },
      `Could not obtain Google credentials to access ${where}${why ? ` (${why})` : ''}`,
    );
  }
  const status = statusOf(error);
  const detail = redact(serverMessageOf(error));
  const action = ctx.action ? `${ctx.action} failed: ` : '';
  const suffix = status !== undefined ? ` (HTTP ${status}${detail ? `: ${detail}` : ''})` : detail ? ` (${detail})` : '';

  if (status === 404) {
    if (ctx.pinned) {
      return new ConflictError(base, `Object changed while it was being read (its generation is gone): ${where}`);
    }
    const bucketMissing = ctx.bucketLevel || /bucket does not exist|no such bucket|bucket not found/i.test(detail);
    if (bucketMissing && ctx.bucket) {
      const bucketUrl = `${ctx.protocol}://${ctx.bucket}`;
      return new NotFoundError(base, bucketUrl === where ? `Bucket not found: ${bucketUrl}` : `Bucket not found: ${bucketUrl} (while accessing ${where})`);
    }
    return new NotFoundError(base, `No such object: ${where}`);
  }
  if (status === 401 || status === 403) {
    return new PermissionDeniedError(base, `Permission denied: ${action}${where}${suffix}`);
  }
  if (status === 412) {
    if (ctx.create) return new AlreadyExistsError(base, `File already exists: ${where}`);
    return new ConflictError(base, `Object changed (generation precondition failed): ${where}`);
  }
  if (status === 409 && ctx.bucketLevel) {
    return new AlreadyExistsError(base, `Bucket already exists: ${ctx.protocol}://${ctx.bucket ?? ctx.path}`);
  }
  if (status !== undefined && isTransientStatus(status)) {
    const err = new StorageError({ ...base, retryable: true }, `Storage service unavailable: ${action}${where}${suffix}`);
    const retryAfterMs = retryAfterOf(error);
    if (retryAfterMs !== undefined) Object.assign(err, { retryAfterMs });
    return err;
  }
  if (status === undefined) {
    if (isMissingCredentials(detail)) {
      return new PermissionDeniedError(base, `No usable Google credentials for ${where}: configure Application Default Credentials, keyFilename or credentials (${detail})`);
    }
    const code = (error as { code?: unknown } | undefined)?.code;
    if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
      return new TimeoutError(base, `Timed out: ${action}${where}${suffix}`);
    }
    if (isNetworkError(error)) return new StorageError({ ...base, retryable: true }, `Network error: ${action}${where}${suffix}`);
  }
  return new StorageError(base, `Storage error: ${action}${where}${suffix}`);
}
