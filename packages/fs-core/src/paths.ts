import { InvalidPathError } from './errors.js';
import type { FileInfo } from './types.js';

/** Splits an object-store path `bucket/key/parts` into bucket and key ('' for the bucket root). */
export function splitBucketPath(path: string, protocol?: string): { bucket: string; key: string } {
  const slash = path.indexOf('/');
  const bucket = slash === -1 ? path : path.slice(0, slash);
  const key = slash === -1 ? '' : path.slice(slash + 1);
  if (!bucket) throw new InvalidPathError({ path, protocol }, `Path has no bucket: ${protocol ? `${protocol}://` : ''}${path}`);
  return { bucket, key };
}

/**
 * A listed object-store key ending in '/' (`bucket/dir/`: a zero-byte "directory marker" made by a
 * console, s3fs/gcsfs mkdir or Storage Explorer) as adapters yield it: the directory `bucket/dir`.
 */
export function directoryMarker(key: string, mtime?: Date): FileInfo {
  return { name: key.slice(0, -1), type: 'directory', size: 0, mtime, marker: true };
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s;

/** `file:/x` and `local:/x` (RFC 8089's short form of a file URI), not `file://x`. */
export const FILE_URI_SHORT_FORM = /^(?:file|local):(?=\/(?!\/))/i;

/** `s3://b/k` → { protocol: 's3', rest: 'b/k' }; a plain path → undefined. */
export function splitProtocol(url: string): { protocol: string; rest: string } | undefined {
  const match = SCHEME.exec(url);
  return match ? { protocol: match[1]!.toLowerCase(), rest: match[2]! } : undefined;
}

export type PathStyle = 'posix' | 'bucket';

/**
 * Paths already in normal form: non-empty segments, none `.` or `..`, no NUL and no surrogates
 * (paths with astral characters take the full check). Matching ones normalise to themselves.
 */
const SEGMENT = String.raw`(?!\.\.?(?:/|$))[^/\0\uD800-\uDFFF]+`;
const NORMAL_POSIX = new RegExp(`^(?:/${SEGMENT})+$`);
const NORMAL_BUCKET = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);

/** Whether `path` is an absolute POSIX path that normalizePath would return unchanged (a quick check for adapters). */
export function isNormalPosixPath(path: string): boolean {
  return NORMAL_POSIX.test(path);
}

/**
 * Resolves `.`/`..`, collapses slashes and checks for NUL bytes. POSIX paths come out absolute
 * (`/a/b`); bucket paths come out as `bucket/key` with no leading or trailing slash. A `..` that
 * climbs above the top is refused rather than clamped, so a path never silently changes meaning.
 */
export function normalizePath(raw: string, style: PathStyle, protocol: string): string {
  if (typeof raw !== 'string') throw new InvalidPathError({ protocol }, `Path must be a string, got ${typeof raw}`);
  if ((style === 'posix' ? NORMAL_POSIX : NORMAL_BUCKET).test(raw)) return raw; // the common case, without splitting
  if (raw.includes('\0')) throw new InvalidPathError({ protocol }, `Path contains a NUL byte (${protocol})`);
  // A lone surrogate has no UTF-8 form: the key would change on its way to the store.
  if (!raw.isWellFormed()) {
    throw new InvalidPathError({ protocol }, `Path is not well-formed Unicode (lone surrogate) (${protocol})`);
  }
  const out: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0 || (style === 'bucket' && out.length === 1)) {
        // `../user:pw@b/k`: credentials past the `..` stay out of the error too.
        const shown = style === 'bucket' ? redactUserinfo(raw) : raw;
        throw new InvalidPathError({ path: shown, protocol }, `Path escapes its ${style === 'bucket' ? 'bucket' : 'root'}: ${shown}`);
      }
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return style === 'posix' ? `/${out.join('/')}` : out.join('/');
}

/** The first segment that is neither empty nor `.`. */
const BUCKET_SEGMENT = /^(?:\.?\/)*([^/]*)/;

/**
 * `user:secret@` written `***@`: from the start of the segment holding the first ':' to the last
 * '@', since a raw secret may hold '/' (AWS keys do). Text without a ':' before an '@' is kept.
 */
function redactUserinfo(text: string): string {
  const colon = text.indexOf(':');
  const at = text.lastIndexOf('@');
  if (colon === -1 || at < colon) return text;
  const start = text.lastIndexOf('/', colon) + 1;
  return `${text.slice(0, start)}***${text.slice(at)}`;
}

/**
 * Refuses a bucket segment holding a ':', which no S3, GCS or Azure bucket name can (the facade
 * asks this of the known object stores only): `user:password@bucket` (URL credentials, e.g.
 * Hadoop's `s3a://KEY:SECRET@bucket`) or `bucket:9000` (a host:port). Credentials never reach the
 * error. Azure's `container@account.dfs...` has no ':'.
 */
export function checkBucketSegment(path: string, protocol: string): void {
  if (!path.includes(':')) return; // on every call: the common case without a regex
  const bucket = BUCKET_SEGMENT.exec(path)![1]!;
  if (!bucket.includes(':')) return;
  if (path.lastIndexOf('@') > path.indexOf(':')) {
    const shown = redactUserinfo(path);
    throw new InvalidPathError(
      { path: shown, protocol },
      `Credentials in a URL are not accepted (pass them in the storage options instead): ${protocol}://${shown}`,
    );
  }
  throw new InvalidPathError(
    { path, protocol },
    `Invalid bucket name "${bucket}": a bucket name cannot contain ':' (an endpoint's host:port goes in the storage options): ${protocol}://${path}`,
  );
}

export function parentOf(path: string, style: PathStyle): string {
  const slash = path.lastIndexOf('/');
  if (style === 'posix') return slash <= 0 ? '/' : path.slice(0, slash);
  return slash === -1 ? '' : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  if (dir === '' ) return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** Path of `child` relative to `ancestor`, or undefined if it is not below it. */
export function relativeTo(ancestor: string, child: string): string | undefined {
  if (child === ancestor) return '';
  const prefix = ancestor === '/' || ancestor === '' ? ancestor : `${ancestor}/`;
  return child.startsWith(prefix) ? child.slice(prefix.length) : undefined;
}

/** An empty, `.` or `..` segment, which no normalised path has (`a//b`, `/x`, `x/`, `a/./b`). */
const ODD_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/** Whether `relative` (a name below some directory) is one or more segments a normalised path can carry. */
export function isNormalRelative(relative: string): boolean {
  return !ODD_SEGMENT.test(relative);
}

export function depthBelow(ancestor: string, child: string): number {
  const rel = relativeTo(ancestor, child);
  return rel ? rel.split('/').length : 0;
}

/** fsspec's has_magic: only `*`, `?` and `[` make a segment a pattern; braces and the rest are literal. */
export function hasGlobMagic(segment: string): boolean {
  return /[*?[]/.test(segment);
}
