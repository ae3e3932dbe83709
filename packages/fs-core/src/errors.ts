/** Error codes follow errno names so callers used to node:fs can switch on them. */
export type FsErrorCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'EACCES'
  | 'EISDIR'
  | 'ENOTDIR'
  | 'EINVAL'
  | 'ENOTSUP'
  | 'EPROTONOSUPPORT'
  | 'ECONFLICT'
  | 'ETIMEDOUT'
  | 'EABORT'
  | 'EIO'
  | 'ECORRUPT';

export interface FsErrorOptions {
  path?: string | undefined;
  protocol?: string | undefined;
  cause?: unknown;
  retryable?: boolean | undefined;
}

/** Base of every error Strata throws for storage operations. */
export class FsError extends Error {
  readonly code: FsErrorCode;
  readonly path: string | undefined;
  readonly protocol: string | undefined;
  readonly retryable: boolean;

  constructor(code: FsErrorCode, message: string, options: FsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.path = options.path;
    this.protocol = options.protocol;
    this.retryable = options.retryable ?? false;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, path: this.path, protocol: this.protocol, retryable: this.retryable };
  }
}

type Detail = Omit<FsErrorOptions, 'retryable'> & { retryable?: boolean };

function describe(what: string, o: Detail): string {
  const where = o.protocol && o.path !== undefined ? `${o.protocol}://${o.path}` : (o.path ?? '');
  return where ? `${what}: ${where}` : what;
}

export class NotFoundError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('ENOENT', message ?? describe('No such file or directory', o), o);
  }
}
export class AlreadyExistsError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('EEXIST', message ?? describe('File already exists', o), o);
  }
}
export class PermissionDeniedError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('EACCES', message ?? describe('Permission denied (check credentials and access rights)', o), o);
  }
}
export class IsADirectoryError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('EISDIR', message ?? describe('Is a directory', o), o);
  }
}
export class NotADirectoryError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('ENOTDIR', message ?? describe('Not a directory', o), o);
  }
}
export class InvalidPathError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('EINVAL', message ?? describe('Invalid path', o), o);
  }
}
export class NotSupportedError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('ENOTSUP', message ?? describe('Operation not supported', o), o);
  }
}
export class ProtocolNotAvailableError extends FsError {
  constructor(message: string, o: Detail = {}) {
    super('EPROTONOSUPPORT', message, o);
  }
}
/** The object changed between the reads of one handle (its ETag or generation moved on). */
export class ConflictError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('ECONFLICT', message ?? describe('Object changed while it was being read', o), o);
  }
}
export class TimeoutError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('ETIMEDOUT', message ?? describe('Operation timed out', o), { retryable: true, ...o });
  }
}
export class AbortError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('EABORT', message ?? describe('Operation aborted', o), o);
  }
}
/** Anything a backend could not classify; `retryable` says whether trying again may help. */
export class StorageError extends FsError {
  constructor(o: Detail = {}, message?: string) {
    super('EIO', message ?? describe('Storage error', o), o);
  }
}

export function isFsError(e: unknown): e is FsError {
  return e instanceof FsError;
}

export function throwIfAborted(signal: AbortSignal | undefined, o: Detail = {}): void {
  if (signal?.aborted) throw new AbortError({ ...o, cause: signal.reason });
}
