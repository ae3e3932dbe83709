import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  FsError,
  InvalidPathError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  retryableNetworkCodes,
  type RetryAfterHint,
} from '@strata/fs-core';

/** What the failed call was doing; some status codes mean different things per operation. */
export interface ErrorContext {
  protocol: string;
  /** The path as the caller gave it (normalised). */
  path: string;
  container?: string | undefined;
  /** A create-only write: 409/412 mean the blob already exists. */
  create?: boolean | undefined;
  /** A read pinned to an ETag: 412 means the blob changed. */
  pinned?: boolean | undefined;
  /** Secrets that must never appear in a message (account key, SAS token). */
  secrets?: readonly string[] | undefined;
  /** The signal the failed call ran under: an SDK AbortError counts as the caller's abort only if it fired. */
  signal?: AbortSignal | undefined;
}

interface RestErrorLike {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string };
  response?: { headers?: { get(name: string): string | undefined } };
}

const PERMISSION_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'AccountIsDisabled',
]);
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
// 400 answers about the name itself (bad container name, name too long).
const INVALID_NAME_CODES = new Set(['InvalidResourceName', 'OutOfRangeInput', 'InvalidUri']);
// How the SDK describes a response body cut short while it was reading it.
const CUT_SHORT_BODY = /aborted|terminated|premature|socket hang up|ECONNRESET|unexpected end/i;
// Connection-level failures worth another try: the shared network codes and the pipeline's
// REQUEST_SEND_ERROR. ENOTFOUND is left out: it usually means a wrong account name.
const RETRYABLE_NETWORK = new Set([...retryableNetworkCodes, 'REQUEST_SEND_ERROR']);
// Errors @azure/identity throws when no token can be had.
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);

/** Removes anything that could be a credential: URL query strings (SAS), keys, signatures, tokens. */
export function sanitize(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('<redacted>');
  return out
    .replace(/(https?:\/\/[^\s?#"'<>]+)\?[^\s"'<>]*/gi, '$1?<redacted>')
    .replace(/\b(sig|AccountKey|SharedAccessSignature)=[^&;\s"'<>]*/gi, '$1=<redacted>')
    .replace(/\b(SharedKey(?:Lite)?\s+[^:\s]+:)\S+/gi, '$1<redacted>')
    .replace(/\b(Bearer\s+)\S+/gi, '$1<redacted>');
}

function errorCodeOf(e: RestErrorLike): string | undefined {
  return e.details?.errorCode ?? e.response?.headers?.get('x-ms-error-code') ?? e.code;
}

function retryAfterMs(e: RestErrorLike): number | undefined {
  const header = e.response?.headers?.get('retry-after');
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function networkCodeOf(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (RETRYABLE_NETWORK.has(code) || code === 'ENOTFOUND')) return code;
  }
  return undefined;
}

/** The HTTP status of an SDK error, if it has one. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as RestErrorLike | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The Azure error code (`BlobNotFound`, `AuthorizationFailure`...) of an SDK error, if any. */
export function azureCodeOf(error: unknown): string | undefined {
  return error && typeof error === 'object' ? errorCodeOf(error) : undefined;
}

/**
 * A copy of an SDK error that keeps what helps debugging (name, code, status, scrubbed message)
 * but none of the request: the RestError holds the SAS URL and the SharedKey signature.
 */
export class AzureErrorDetails extends Error {
  readonly code: string | undefined;
  readonly statusCode: number | undefined;
  readonly azureCode: string | undefined;

  constructor(error: unknown, secrets: readonly string[] | undefined) {
    const e = (error ?? {}) as RestErrorLike;
    // A thrown non-Error object has no useful text of its own ('[object Object]').
    const message = typeof e.message === 'string' ? e.message : typeof error === 'string' || typeof error === 'number' ? String(error) : '';
    super(sanitize(message, secrets));
    this.name = typeof e.name === 'string' ? e.name : 'Error';
    this.code = typeof e.code === 'string' ? e.code : networkCodeOf(error);
    this.statusCode = statusOf(error);
    this.azureCode = azureCodeOf(error);
    // The stack's first line repeats the message; the rest points into this module, not the SDK.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Maps an @azure/storage-blob (or @azure/identity) error onto the fs-core hierarchy. */
export function toFsError(error: unknown, ctx: ErrorContext): FsError {
  if (error instanceof FsError) return error;
  const { protocol, path } = ctx;
  const where = `${protocol}://${path}`;
  const o = { path, protocol, cause: new AzureErrorDetails(error, ctx.secrets) };
  const e = (error ?? {}) as RestErrorLike;
  const callerAborted = ctx.signal?.aborted === true;
  if (e.name === 'AbortError') {
    if (callerAborted) return new AbortError(o);
    // Nobody aborted: the SDK reports a connection closed mid-body this way.
    return new StorageError({ ...o, retryable: true }, `Connection to Azure Blob Storage closed before the response ended for ${where}`);
  }

  const status = statusOf(error);
  const code = errorCodeOf(e);
  const firstLine = sanitize(String(e.message ?? '').split('\n')[0]!.trim(), ctx.secrets);
  const detail = [code, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean).join(', ');
  const suffix = `${detail ? ` (${detail})` : ''}${firstLine && firstLine !== code ? `: ${firstLine}` : ''}`;

  if (code === 'PARSE_ERROR' && !callerAborted && CUT_SHORT_BODY.test(String(e.message ?? ''))) {
    return new StorageError({ ...o, retryable: true }, `Azure Blob Storage response was cut short for ${where}${suffix}`);
  }
  if (e.name && CREDENTIAL_ERRORS.has(e.name)) {
    return new PermissionDeniedError(o, `Could not obtain an Azure access token for ${where}${suffix}`);
  }
  if (code === 'ContainerNotFound') {
    const container = ctx.container ?? path.split('/')[0];
    return new NotFoundError(o, `Container not found: ${protocol}://${container}${container === path ? '' : ` (while accessing ${where})`}`);
  }
  if (code === 'BlobNotFound' || status === 404) {
    return new NotFoundError(o, `No such file or directory: ${where}`);
  }
  if (status === 401 || status === 403 || (code && PERMISSION_CODES.has(code))) {
    return new PermissionDeniedError(o, `Permission denied for ${where}${suffix}; check the account key, SAS token or role assignment`);
  }
  if (code === 'BlobAlreadyExists' || code === 'ContainerAlreadyExists' || (ctx.create && (status === 409 || status === 412))) {
    return new AlreadyExistsError(o, `File already exists: ${where}`);
  }
  if (status === 400 && code && INVALID_NAME_CODES.has(code)) {
    return new InvalidPathError(o, `Invalid container or blob name: ${where}${suffix}`);
  }
  if (ctx.pinned && (status === 412 || code === 'ConditionNotMet')) {
    return new ConflictError(o, `Blob changed while it was being read (its ETag moved on): ${where}`);
  }
  if (code === 'InvalidBlockList') {
    // Committing a blob discards every uncommitted block, including another writer's staged ones.
    return new ConflictError(o, `Another writer committed ${where} while this upload was staging blocks; its staged blocks were discarded. Write again.`);
  }
  if (code === 'Md5Mismatch' || code === 'Crc64Mismatch') {
    // The body is hashed before it is sent, so it changed on the way: sending it again can succeed.
    return new StorageError({ ...o, retryable: true }, `The bytes Azure Blob Storage received for ${where} do not match their checksum${suffix}`);
  }
  if (status !== undefined && RETRYABLE_STATUS.has(status)) {
    const err = new StorageError({ ...o, retryable: true }, `Azure Blob Storage is unavailable for ${where}${suffix}`);
    const hint = retryAfterMs(e);
    if (hint !== undefined) (err as RetryAfterHint).retryAfterMs = hint;
    return err;
  }
  const network = status === undefined ? networkCodeOf(error) : undefined;
  if (network) {
    const hint = network === 'ENOTFOUND' ? '; check the account name and endpoint' : '';
    return new StorageError({ ...o, retryable: network !== 'ENOTFOUND' }, `Network error for ${where} (${network})${hint}`);
  }
  return new StorageError(o, `Azure Blob Storage error for ${where}${suffix || ': unknown error'}`);
}
