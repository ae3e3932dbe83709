import {
  AbortError,
  AlreadyExistsError,
  FsError,
  InvalidPathError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  StorageError,
  TimeoutError,
} from '../errors.js';

/** Errno codes where trying again later may succeed. */
const RETRYABLE = new Set(['EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR', 'ETIMEDOUT', 'EIO']);

function errnoOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/**
 * Turns a node:fs (or memfs) error into the fs-core hierarchy. `path` is the path the caller
 * used, never the on-disk path behind a `root`, so messages do not reveal the root.
 */
export function fromErrno(error: unknown, path: string, protocol: string): FsError {
  if (error instanceof FsError) return error;
  const detail = { path, protocol, cause: error };
  const code = errnoOf(error);
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(detail);
    case 'EEXIST':
      return new AlreadyExistsError(detail);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new PermissionDeniedError(detail);
    case 'EISDIR':
      return new IsADirectoryError(detail);
    case 'ENOTDIR':
      return new NotADirectoryError(detail);
    case 'EINVAL':
    case 'ENAMETOOLONG':
    case 'ELOOP':
    case 'ERR_INVALID_ARG_VALUE':
    case 'ERR_INVALID_ARG_TYPE':
      return new InvalidPathError(detail);
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
    case 'ENOSYS':
    case 'EXDEV':
      return new NotSupportedError(detail);
    case 'ETIMEDOUT':
      return new TimeoutError(detail);
    case 'ABORT_ERR':
      return new AbortError(detail);
    case 'ENOTEMPTY':
      return new StorageError(detail, `Directory not empty: ${protocol}://${path}`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageError(detail, `No space left on device: ${protocol}://${path}`);
    default:
      if (error instanceof Error && error.name === 'AbortError') return new AbortError(detail);
      return new StorageError({ ...detail, retryable: code !== undefined && RETRYABLE.has(code) });
  }
}

export function hasErrno(error: unknown, ...codes: string[]): boolean {
  const code = errnoOf(error);
  return code !== undefined && codes.includes(code);
}
