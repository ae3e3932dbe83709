import { resolve as resolveLocal } from 'node:path';

import pLimit from 'p-limit';
import picomatch from 'picomatch';
import {
  AbortError,
  FsError,
  InvalidPathError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  NotSupportedError,
  StorageError,
  AlreadyExistsError,
  throwIfAborted,
} from './errors.js';
import { AtomicWriteHandle, BlockReadHandle, toBytes } from './handles.js';
import {
  baseName,
  checkBucketSegment,
  depthBelow,
  FILE_URI_SHORT_FORM,
  hasGlobMagic,
  isNormalRelative,
  joinPath,
  normalizePath,
  parentOf,
  relativeTo,
  splitProtocol,
  type PathStyle,
} from './paths.js';
import { LocalAdapter } from './backends/local.js';
import { knownImplementations } from './known.js';
import { RetryPolicy } from './retry.js';
import type {
  BulkOptions,
  CallOptions,
  Capabilities,
  FileInfo,
  FileSystem,
  FileSystemOptions,
  FindOptions,
  MkdirOptions,
  PipeOptions,
  RangeOptions,
  ReadHandle,
  SignOptions,
  StorageAdapter,
  WalkEntry,
  WriteData,
  WriteHandle,
  WriteMode,
} from './types.js';

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;

/** Wraps a backend's small core in the full FileSystem API. */
export function fromAdapter(adapter: StorageAdapter, options: FileSystemOptions = {}): FileSystem {
  return new AdaptedFileSystem(adapter, options);
}

interface TransferPair {
  src: string;
  dst: string;
  size: number;
}

/** Code point order, which is UTF-8 byte order, the order object stores list keys in (`<` compares UTF-16 units). */
function byString(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}
const byName = (a: { name: string }, b: { name: string }) => byString(a.name, b.name);

/** ASCII punctuation: what picomatch may read as syntax, so what a literal name character is escaped as. */
const PUNCTUATION = /[!-/:-@[-`{-~]/;

/** Where the fnmatch bracket class opening at `open` closes (`]` first, or after `!`, is a member), or -1. */
function classEnd(pattern: string, open: number): number {
  let j = open + 1;
  if (pattern[j] === '!') j++;
  if (pattern[j] === ']') j++;
  while (j < pattern.length && pattern[j] !== ']') j++;
  // Patterns match segment by segment (as fsspec's do): a class never spans a slash.
  return j < pattern.length && !pattern.slice(open, j).includes('/') ? j : -1;
}

/**
 * The contract's glob language, fsspec's: `*`, `?`, `[..]` (with `[!..]` for negation) and `**`.
 * Every other character picomatch would read as syntax (`( ) { } | + @ ! \`, extglobs, braces) is
 * escaped, so a name like `run(1)` or `y{a,b}.txt` means itself.
 */
function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const close = c === '[' ? classEnd(pattern, i) : -1;
    if (c === '*' || c === '?' || c === '/') {
      out += c;
    } else if (close !== -1) {
      let body = pattern.slice(i + 1, close);
      let negate = '';
      if (body.startsWith('!')) {
        negate = '^'; // fnmatch's `[!..]` is picomatch's `[^..]`
        body = body.slice(1);
      }
      // Members are literal except `-` between two of them (a range).
      out += `[${negate}${[...body].map((m) => (m !== '-' && PUNCTUATION.test(m) ? `\\${m}` : m)).join('')}]`;
      i = close;
    } else {
      out += PUNCTUATION.test(c) ? `\\${c}` : c;
    }
  }
  // A class is only a class: picomatch otherwise also matches the literal text (`x[1].txt` the file
  // named so as well as `x1.txt`), and its matcher function a name equal to the raw pattern; makeRe
  // with literalBrackets off does neither. Dotall (fsspec's `(?s:...)`): `**` crosses names holding line breaks.
  // Only the source: picomatch would compile it without the `u` flag, where a range of emoji is invalid.
  const source = picomatch.makeRe(out, { dot: true, nobrace: true, noextglob: true, literalBrackets: false }, true) as unknown as string;
  // Unicode mode, so `?`, `*` and classes take a whole code point (an emoji is one character, not two).
  return new RegExp(`^(?:${unicodeModeEscapes(source)})$`, 'su');
}

/** picomatch escapes any punctuation; a `u` regex allows only syntax characters escaped, so the rest become `\u{..}`. */
function unicodeModeEscapes(source: string): string {
  return source.replace(/\\(.)/gsu, (escape, c: string) =>
    /[\^$\\.*+?()[\]{}|/a-zA-Z0-9]/.test(c) ? escape : `\\u{${c.codePointAt(0)!.toString(16)}}`,
  );
}

/**
 * Runs `task` over `items`, at most `concurrency` at once. After the first failure no further item
 * starts, and the call settles only once the tasks under way have: when it rejects, nothing more
 * changes (Promise.all would reject at once and leave them writing or deleting).
 */
async function forEachBounded<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(concurrency);
  let failure: { error: unknown } | undefined;
  await Promise.all(
    items.map((item) =>
      limit(async () => {
        if (failure) return;
        try {
          await task(item);
        } catch (error) {
          failure ??= { error };
        }
      }),
    ),
  );
  if (failure) throw failure.error;
}

/** Nothing is at the path: missing, or below a file (`/file.txt/x`), as os.path.exists and fsspec's listings say. */
function isAbsent(error: unknown): boolean {
  return error instanceof NotFoundError || error instanceof NotADirectoryError;
}

/** A `concurrency` or `blockSize` option, checked up front (p-limit would throw a plain TypeError mid-way, a NaN block size fail every read). */
function checkCount(name: 'concurrency' | 'blockSize', value: number, protocol: string): number {
  if ((Number.isSafeInteger(value) && value >= 1) || (name === 'concurrency' && value === Infinity)) return value;
  throw new InvalidPathError({ protocol }, `${name} must be a whole number from 1 up${name === 'concurrency' ? ' (or Infinity)' : ''}, got ${String(value)}`);
}

/**
 * The facade: owns path handling, errors, retries and concurrency so adapters stay thin.
 * Everything beyond the adapter's core (head, list, read, createWriter, remove) is derived here.
 */
export class AdaptedFileSystem implements FileSystem {
  readonly protocol: string;
  readonly capabilities: Readonly<Capabilities>;
  readonly retry: RetryPolicy;
  readonly concurrency: number;
  private readonly style: PathStyle;
  /** The top of the tree: `/` on a posix filesystem, the empty path (all buckets) on an object store. */
  private readonly root: string;
  private readonly blockSize: number;
  /** An unrooted local disk reads relative paths against the working directory, as fsspec's LocalFileSystem does. */
  private readonly cwdRelative: boolean;
  private localPeer: AdaptedFileSystem | undefined;

  constructor(
    readonly adapter: StorageAdapter,
    options: FileSystemOptions = {},
  ) {
    this.protocol = adapter.protocol;
    this.capabilities = Object.freeze({ ...adapter.capabilities });
    this.style = adapter.capabilities.emptyDirectories ? 'posix' : 'bucket';
    this.root = this.style === 'posix' ? '/' : '';
    this.concurrency = checkCount('concurrency', options.concurrency ?? DEFAULT_CONCURRENCY, this.protocol);
    this.blockSize = checkCount('blockSize', options.blockSize ?? DEFAULT_BLOCK_SIZE, this.protocol);
    this.retry = new RetryPolicy(options.retry);
    this.cwdRelative = adapter instanceof LocalAdapter && adapter.root === undefined;
  }

  /** Strips this filesystem's own protocol and normalises; a foreign protocol is an error. */
  normalize(path: string): string {
    if (typeof path !== 'string') throw new InvalidPathError({ protocol: this.protocol }, `Path must be a string, got ${typeof path}`);
    const split = path.includes('://') ? splitProtocol(path) : undefined;
    let rest = path;
    if (split) {
      if (!this.acceptsProtocol(split.protocol)) {
        throw new InvalidPathError(
          { path, protocol: this.protocol },
          `URL protocol "${split.protocol}" does not belong to this ${this.protocol} filesystem: ${path}`,
        );
      }
      rest = split.rest;
    } else if (this.protocol === 'file') {
      // `file:/abs/path` is a file URI too (RFC 8089's short form), as fsspec's LocalFileSystem reads it.
      rest = path.replace(FILE_URI_SHORT_FORM, '');
    }
    if (this.cwdRelative && !rest.startsWith('/')) rest = resolveLocal(rest);
    // Only S3, GCS and Azure are known to have no ':' in bucket names; a plug-in's may be host:port.
    if (Object.hasOwn(knownImplementations, this.protocol)) checkBucketSegment(rest, this.protocol);
    const normal = normalizePath(rest, this.style, this.protocol);
    return this.adapter.canonicalPath ? this.adapter.canonicalPath(normal) : normal;
  }

  unstripProtocol(path: string): string {
    return `${this.protocol}://${this.normalize(path)}`;
  }

  private acceptsProtocol(protocol: string): boolean {
    const own = [this.protocol, ...((this.adapter as { aliases?: string[] }).aliases ?? [])];
    if (this.protocol === 'file') own.push('local');
    return own.includes(protocol);
  }

  /* ------------------------------ errors ------------------------------ */

  private guard = async <T>(fn: () => Promise<T>, path?: string, signal?: AbortSignal): Promise<T> => {
    if (signal?.aborted) throw new AbortError({ path, protocol: this.protocol, cause: signal.reason });
    try {
      return await fn();
    } catch (error) {
      throw this.wrapError(error, path, signal);
    }
  };

  private wrapError(error: unknown, path: string | undefined, signal?: AbortSignal): FsError {
    if (error instanceof FsError) return error;
    if (signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
      return new AbortError({ path, protocol: this.protocol, cause: error });
    }
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new StorageError({ path, protocol: this.protocol, cause: error }, `${this.protocol}://${path ?? ''}: ${detail}`);
  }

  /** guard(retry.run(fn)), written out: it is on every call's path. */
  private async run<T>(path: string, signal: AbortSignal | undefined, fn: (signal: AbortSignal | undefined, attempt: number) => Promise<T>): Promise<T> {
    if (signal?.aborted) throw new AbortError({ path, protocol: this.protocol, cause: signal.reason });
    try {
      return await this.retry.run(fn, signal);
    } catch (error) {
      throw this.wrapError(error, path, signal);
    }
  }

  /* ------------------------------ metadata ------------------------------ */

  async info(path: string, options: CallOptions = {}): Promise<FileInfo> {
    const p = this.normalize(path);
    return this.infoOf(p, options.signal);
  }

  private async infoOf(p: string, signal?: AbortSignal, follow = true): Promise<FileInfo> {
    try {
      return await this.run(p, signal, (s) => this.adapter.head(p, follow ? { signal: s } : { signal: s, follow }));
    } catch (error) {
      // Object stores: no object at the key may still be a prefix, i.e. a virtual directory.
      if (!(error instanceof NotFoundError) || this.style !== 'bucket' || !p.includes('/')) throw error;
      if (await this.hasChildren(p, signal)) return { name: p, type: 'directory', size: 0 };
      throw error;
    }
  }

  /** Whether `p` is a virtual directory: keys below it, or its own directory marker. */
  private async hasChildren(p: string, signal?: AbortSignal): Promise<boolean> {
    return this.run(p, signal, async (s) => {
      for await (const _ of this.listBelow(p, false, s)) return true;
      return false;
    });
  }

  async exists(path: string, options: CallOptions = {}): Promise<boolean> {
    return (await this.infoOrUndefined(path, options)) !== undefined;
  }

  async isFile(path: string, options: CallOptions = {}): Promise<boolean> {
    return (await this.infoOrUndefined(path, options))?.type === 'file';
  }

  async isDir(path: string, options: CallOptions = {}): Promise<boolean> {
    return (await this.infoOrUndefined(path, options))?.type === 'directory';
  }

  /** undefined when nothing is there, including below a file (`/file.txt/x`), as os.path.exists says. */
  private async infoOrUndefined(path: string, options: CallOptions): Promise<FileInfo | undefined> {
    try {
      return await this.info(path, options);
    } catch (error) {
      if (isAbsent(error)) return undefined;
      throw error;
    }
  }

  private async fileInfo(p: string, signal?: AbortSignal): Promise<FileInfo> {
    const info = await this.infoOf(p, signal);
    if (info.type === 'directory') throw new IsADirectoryError({ path: p, protocol: this.protocol });
    return info;
  }

  /* ------------------------------ listings ------------------------------ */

  /**
   * The adapter's listing of `p`, held to what every listing here promises: only entries strictly
   * below `p` (direct children unless recursive) that a normalised path names, so a stored key like
   * `p//x` can never list `p` as its own child (walk would never end) nor reach a path that means
   * something else. The one exception is `p`'s own directory marker, yielded named `p`: it proves
   * an otherwise empty directory exists and `rm -r` deletes it; callers leave it out.
   */
  private async *listBelow(p: string, recursive: boolean, signal?: AbortSignal): AsyncGenerator<FileInfo> {
    const prefix = p === this.root ? p : `${p}/`;
    for await (const entry of this.adapter.list(p, { recursive, signal })) {
      if (entry.name === p) {
        if (entry.marker === true && entry.type === 'directory') yield entry;
      } else if (entry.name.startsWith(prefix)) {
        const rest = entry.name.slice(prefix.length);
        if (isNormalRelative(rest) && (recursive || !rest.includes('/'))) yield entry;
      }
    }
  }

  private listAll(p: string, recursive: boolean, signal?: AbortSignal): Promise<FileInfo[]> {
    return this.run(p, signal, async (s) => {
      const out: FileInfo[] = [];
      for await (const entry of this.listBelow(p, recursive, s)) out.push(entry);
      return out;
    });
  }

  async ls(path: string, options: CallOptions = {}): Promise<FileInfo[]> {
    const p = this.normalize(path);
    let entries: FileInfo[];
    try {
      entries = await this.listAll(p, false, options.signal);
    } catch (error) {
      if (!(error instanceof NotADirectoryError)) throw error;
      entries = [];
    }
    const children = entries.filter((e) => e.name !== p);
    // Only its own marker: an empty directory.
    if (children.length === 0 && entries.length > 0) return [];
    if (children.length === 0) {
      // fsspec semantics: ls of a file lists the file; an empty result must be a real directory.
      const info = await this.infoOf(p, options.signal);
      return info.type === 'file' ? [info] : [];
    }
    return children.sort(byName);
  }

  /**
   * Every file below `p` (and, with `withDirs`, every directory), as infos, unsorted. With
   * `ownMarker`, also `p`'s own directory marker (named `p`), for rm -r to delete.
   */
  private async entriesBelow(p: string, withDirs: boolean, signal?: AbortSignal, ownMarker = false): Promise<FileInfo[]> {
    let entries: FileInfo[];
    try {
      entries = await this.listAll(p, true, signal);
    } catch (error) {
      // An object store's listing fails NotFound only for a missing bucket (a missing prefix lists
      // nothing): that is an error, as in ls. A missing path on a disk finds nothing, as in fsspec.
      if (!isAbsent(error) || (this.style === 'bucket' && error instanceof NotFoundError)) throw error;
      entries = [];
    }
    const files = entries.filter((e) => e.type === 'file' && e.name !== p);
    if (!withDirs) return files;
    const dirs = new Map<string, FileInfo>();
    for (const e of entries) if (e.type === 'directory' && (e.name !== p || ownMarker)) dirs.set(e.name, e);
    // Object stores list no directories but markers: derive them from the keys (a marker's too).
    for (const e of [...files, ...dirs.values()]) {
      for (let d = parentOf(e.name, this.style); d !== p && relativeTo(p, d) !== undefined; d = parentOf(d, this.style)) {
        if (!dirs.has(d)) dirs.set(d, { name: d, type: 'directory', size: 0 });
      }
    }
    return [...files, ...dirs.values()];
  }

  /** Object stores: throws NotFoundError when the bucket of `p` is missing (one listing of its root). */
  private async assertBucket(p: string, signal?: AbortSignal): Promise<void> {
    if (this.style !== 'bucket' || p === this.root) return;
    await this.hasChildren(p.split('/', 1)[0]!, signal);
  }

  async find(path: string, options: FindOptions = {}): Promise<string[]> {
    const p = this.normalize(path);
    const infos = await this.findInfos(p, options);
    return infos.map((i) => i.name);
  }

  /** With `withDirs`, `p` itself is listed too when it is a directory (not the root), as in fsspec. */
  private async findInfos(p: string, options: FindOptions): Promise<FileInfo[]> {
    const withDirs = options.withDirs ?? false;
    const max = this.maxDepthOf(p, options);
    let entries = await this.entriesBelow(p, withDirs, options.signal);
    if (max !== undefined) entries = entries.filter((e) => depthBelow(p, e.name) <= max);
    const withSelf = withDirs && p !== this.root;
    if (entries.length === 0) {
      try {
        const info = await this.infoOf(p, options.signal);
        if (info.type === 'file' || withSelf) return [info];
      } catch (error) {
        if (!isAbsent(error)) throw error;
      }
    } else if (withSelf) {
      // Entries below prove `p` a directory.
      entries.push({ name: p, type: 'directory', size: 0 });
    }
    return entries.sort(byName);
  }

  /** find's and walk's `maxDepth`, checked before any listing; fsspec refuses one below 1 too. */
  private maxDepthOf(p: string, options: FindOptions): number | undefined {
    const max = options.maxDepth;
    if (max !== undefined && !(max >= 1)) throw new InvalidPathError({ path: p, protocol: this.protocol }, `maxDepth must be at least 1, got ${String(max)}`);
    return max;
  }

  async glob(pattern: string, options: CallOptions = {}): Promise<string[]> {
    const p = this.normalize(pattern);
    const segments = p.split('/');
    const firstMagic = segments.findIndex(hasGlobMagic);
    if (firstMagic === -1) {
      if (await this.exists(p, options)) return [p];
      await this.assertBucket(p, options.signal);
      return [];
    }
    const staticPart = segments.slice(0, firstMagic).join('/');
    const base = staticPart || this.root;
    if (base === '') throw new InvalidPathError({ path: pattern, protocol: this.protocol }, `Glob needs a literal bucket: ${pattern}`);
    const rest = segments.slice(firstMagic);
    if (rest.some((s) => s.includes('**') && s !== '**')) {
      throw new InvalidPathError({ path: pattern, protocol: this.protocol }, `Invalid glob: '**' can only be an entire path segment: ${pattern}`);
    }
    const maxDepth = rest.some((s) => s.includes('**')) ? undefined : rest.length;
    const candidates = await this.findInfos(base, { maxDepth, withDirs: true, signal: options.signal });
    const matcher = globToRegExp(p);
    // As in fsspec (and POSIX shells): a pattern ending in a slash matches directories only.
    const dirsOnly = pattern.endsWith('/');
    // As fsspec does, a pattern ending in `/**` is tested against a directory's name with a slash
    // added, so `x/**` takes every directory x matches (picomatch's own `x/**` takes only a literal
    // x, file or not). A file is tested by its directory's name so: it matches only below such a one.
    const slashed = (name: string) => (name.endsWith('/') ? name : `${name}/`);
    const subject =
      segments.at(-1) === '**' ? (c: FileInfo) => slashed(c.type === 'directory' ? c.name : parentOf(c.name, this.style)) : (c: FileInfo) => c.name;
    const matches = candidates.filter((c) => (!dirsOnly || c.type === 'directory') && matcher.test(subject(c))).map((c) => c.name);
    // `dir/**` matches dir itself, as in fsspec. findInfos lists a directory base already; this adds the root.
    if (matcher.test(subject({ name: base, type: 'directory', size: 0 })) && !candidates.some((c) => c.name === base)) {
      if (candidates.length > 0 || (await this.isDir(base, options))) matches.push(base);
    }
    return matches.sort(byString);
  }

  async *walk(path: string, options: FindOptions = {}): AsyncIterable<WalkEntry> {
    const p = this.normalize(path);
    const maxDepth = this.maxDepthOf(p, options);
    const visit = async function* (this: AdaptedFileSystem, dir: string, depth: number): AsyncGenerator<WalkEntry> {
      let entries: FileInfo[];
      try {
        entries = await this.ls(dir, options);
      } catch (error) {
        // Nothing to walk, as in fsspec (and os.walk): a missing path, one below a file, or a directory removed meanwhile.
        if (!isAbsent(error)) throw error;
        // ls cannot say whether its bucket or only the prefix is missing: a missing bucket is an error.
        if (dir === p) await this.assertBucket(p, options.signal);
        return;
      }
      if (entries.length === 1 && entries[0]!.type === 'file' && entries[0]!.name === dir) return;
      const subdirs = entries.filter((e) => e.type === 'directory');
      const files = entries.filter((e) => e.type === 'file').map((e) => baseName(e.name));
      yield { root: dir, dirs: subdirs.map((e) => baseName(e.name)), files };
      if (maxDepth !== undefined && depth >= maxDepth) return;
      // Linked directories are listed but not entered (os.walk's default), so a loop cannot recurse forever.
      for (const d of subdirs) if (!d.islink) yield* visit.call(this, d.name, depth + 1);
    };
    yield* visit.call(this, p, 1);
  }

  async du(path: string, options: CallOptions = {}): Promise<number> {
    const p = this.normalize(path);
    const infos = await this.findInfos(p, { signal: options.signal });
    return infos.reduce((sum, i) => sum + i.size, 0);
  }

  /* ------------------------------ reads ------------------------------ */

  async cat(path: string, options: RangeOptions = {}): Promise<Uint8Array> {
    const p = this.normalize(path);
    return this.readRange(p, this.rangeBound(p, options.start, 'start'), this.rangeBound(p, options.end, 'end'), options.signal);
  }

  /** A range bound as given: an integer, or null/undefined for "from the start" / "to the end" (fsspec's None). */
  private rangeBound(p: string, value: number | null | undefined, name: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    // NaN or 1.5 would reach the backend as a nonsense range: empty, or the wrong bytes.
    if (!Number.isSafeInteger(value)) {
      throw new InvalidPathError({ path: p, protocol: this.protocol }, `Range ${name} must be an integer, got ${String(value)}: ${this.protocol}://${p}`);
    }
    return value;
  }

  private readRange(p: string, start: number | undefined, end: number | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    const from = start ?? 0;
    if (from >= 0 && (end === undefined || end > from)) {
      return this.readBytes(p, from, end, signal); // the common case, with no extra step
    }
    return this.readSpecialRange(p, from, end, signal);
  }

  /** The adapter's read of a plain range; the extra step comes only when the read fails. */
  private readBytes(p: string, from: number, to: number | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    return this.run(p, signal, (s) => this.adapter.read(p, from, to, { signal: s })).catch((error: unknown) => this.directoryOr(error, p, signal));
  }

  /** An object store answers "no such object" for a prefix: reading a directory is IsADirectoryError, as on file and memory. */
  private async directoryOr(error: unknown, p: string, signal?: AbortSignal): Promise<never> {
    if (error instanceof NotFoundError && this.style === 'bucket' && p.includes('/') && (await this.hasChildren(p, signal))) {
      throw new IsADirectoryError({ path: p, protocol: this.protocol, cause: error }, `${this.protocol}://${p} is a directory`);
    }
    throw error;
  }

  /** Ranges counted from the end, and empty ones (which must still name an existing file). */
  private async readSpecialRange(p: string, start: number, end: number | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    let from = start;
    let to = end;
    if (from < 0 || (to !== undefined && to < 0)) {
      const { size } = await this.fileInfo(p, signal);
      if (from < 0) from = Math.max(0, size + from);
      if (to !== undefined && to < 0) to = Math.max(0, size + to);
    }
    if (to !== undefined && to <= from) {
      await this.fileInfo(p, signal);
      return new Uint8Array(0);
    }
    return this.readBytes(p, from, to, signal);
  }

  async catRanges(
    paths: string[],
    starts: Array<number | null | undefined>,
    ends: Array<number | null | undefined>,
    options: BulkOptions = {},
  ): Promise<Uint8Array[]> {
    if (paths.length !== starts.length || paths.length !== ends.length) {
      throw new InvalidPathError({ protocol: this.protocol }, 'catRanges needs as many starts and ends as paths');
    }
    const normalized = paths.map((path) => this.normalize(path));
    // Every range is checked before any is read.
    const froms = normalized.map((p, i) => this.rangeBound(p, starts[i], `starts[${i}]`) ?? 0);
    const tos = normalized.map((p, i) => this.rangeBound(p, ends[i], `ends[${i}]`));
    const limit = pLimit(this.concurrencyFor(options));
    // Bytes, as onProgress counts them. Until the last range is in this is an estimate: ranges from
    // the end have no known length, and ranges past the end of a file come back shorter.
    const estimate = froms.reduce((sum, start, i) => {
      const end = tos[i];
      return start >= 0 && end !== undefined && end > start ? sum + (end - start) : sum;
    }, 0);
    let done = 0;
    let finished = 0;
    return Promise.all(
      normalized.map((p, i) =>
        limit(async () => {
          const data = await this.readRange(p, froms[i], tos[i], options.signal);
          done += data.length;
          options.onProgress?.(done, ++finished === paths.length ? done : Math.max(done, estimate));
          return data;
        }),
      ),
    );
  }

  open(path: string, mode: 'rb', options?: CallOptions): Promise<ReadHandle>;
  open(path: string, mode: 'wb' | 'xb', options?: CallOptions): Promise<WriteHandle>;
  async open(path: string, mode: 'rb' | 'wb' | 'xb', options: CallOptions = {}): Promise<ReadHandle | WriteHandle> {
    const p = this.normalize(path);
    if (mode === 'rb') {
      const info = await this.fileInfo(p, options.signal);
      return new BlockReadHandle(this.adapter, { ...info, name: p }, this.blockSize, this.retry, (fn) => this.guard(fn, p, options.signal), options.signal);
    }
    if (mode !== 'wb' && mode !== 'xb') throw this.unknownMode(p, 'open', mode, "'rb', 'wb' or 'xb'");
    return this.openWriter(p, mode === 'xb' ? 'create' : 'overwrite', options.signal);
  }

  private unknownMode(p: string, call: string, mode: unknown, known: string): InvalidPathError {
    return new InvalidPathError({ path: p, protocol: this.protocol }, `Unknown ${call} mode "${String(mode)}" (use ${known}): ${this.protocol}://${p}`);
  }

  private checkWritable(p: string): void {
    if (this.style === 'posix' ? p === '/' : !p.includes('/')) {
      throw new IsADirectoryError({ path: p, protocol: this.protocol }, `Cannot write a file at a ${this.style === 'posix' ? 'root' : 'bucket root'}: ${this.protocol}://${p}`);
    }
  }

  private async openWriter(p: string, mode: WriteMode, signal?: AbortSignal): Promise<WriteHandle> {
    this.checkWritable(p);
    const writer = await this.guard(() => this.adapter.createWriter(p, mode, { signal, retry: this.retry }), p, signal);
    return new AtomicWriteHandle(p, mode, this.protocol, writer, (fn) => this.guard(fn, p, signal), signal, (fn) => this.guard(fn, p));
  }

  /* ------------------------------ writes ------------------------------ */

  async pipe(path: string, data: WriteData, options: PipeOptions = {}): Promise<void> {
    const p = this.normalize(path);
    const mode = options.mode ?? 'overwrite';
    const signal = options.signal;
    // Adapters read any other mode as one of the two (memory overwrote, local created): refuse it here.
    if (mode !== 'overwrite' && mode !== 'create') throw this.unknownMode(p, 'pipe', mode, "'overwrite' or 'create'");
    const bytes = toBytes(data);
    this.checkWritable(p);
    if (this.adapter.writeFile) {
      await this.guard(() => this.adapter.writeFile!(p, bytes, mode, { signal, retry: this.retry }), p, signal);
      return;
    }
    // What open + write + commit does, without a WriteHandle: one body, written once, so no queue or state to keep.
    await this.guard(async () => {
      const writer = await this.adapter.createWriter(p, mode, { signal, retry: this.retry });
      try {
        if (bytes.length > 0) await writer.write(bytes, signal);
        await writer.commit(signal);
      } catch (error) {
        // A caller whose signal fired is not held while the (bounded) cleanup runs on.
        const cleanup = writer.abort().catch(() => undefined);
        if (!signal?.aborted) await cleanup;
        throw error;
      }
    }, p, signal);
  }

  async touch(path: string, options: CallOptions = {}): Promise<void> {
    try {
      await this.pipe(path, new Uint8Array(0), { mode: 'create', signal: options.signal });
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
      // An existing file keeps its bytes (fsspec would truncate it) and, where the store can, gets a new mtime, as POSIX touch does.
      await this.adapter.touchExisting?.(this.normalize(path), options);
    }
  }

  async mkdir(path: string, options: MkdirOptions = {}): Promise<void> {
    const p = this.normalize(path);
    throwIfAborted(options.signal, { path: p, protocol: this.protocol });
    const parents = options.parents ?? true;
    if (this.style === 'bucket' && p.includes('/')) return; // prefixes need no creation
    if (!this.adapter.makeDir) return;
    await this.guard(() => this.adapter.makeDir!(p, { parents, signal: options.signal }), p, options.signal);
  }

  async rm(path: string, options: BulkOptions = {}): Promise<void> {
    const p = this.normalize(path);
    this.concurrencyFor(options);
    // Not following links: a dangling, looping or root-escaping link must still be removable.
    const info = await this.infoOf(p, options.signal, false);
    // A link goes like a file, never what it points at (like rm -r and shutil.rmtree).
    if (info.type === 'file' || info.islink) {
      await this.removeOne(p, options.signal);
      return;
    }
    if (!options.recursive) {
      throw new IsADirectoryError({ path: p, protocol: this.protocol }, `${this.protocol}://${p} is a directory; pass { recursive: true } to remove it`);
    }
    const entries = await this.entriesBelow(p, true, options.signal, true);
    const files = entries.filter((e) => e.type === 'file').map((e) => e.name);
    // Object stores: directory markers (other tools' `dir/` keys) go too, in the same batches, or
    // the directory would outlive its rm -r.
    const markers = entries.filter((e) => e.type === 'directory' && e.marker === true).map((e) => `${e.name}/`);
    await this.removeFiles([...files, ...markers], options);
    if (this.style === 'posix' && this.adapter.removeDir) {
      const dirs = entries.filter((e) => e.type === 'directory').map((e) => e.name);
      dirs.sort((a, b) => b.split('/').length - a.split('/').length);
      for (const d of dirs) await this.guard(() => this.adapter.removeDir!(d, { signal: options.signal }), d, options.signal);
      if (p !== '/') await this.guard(() => this.adapter.removeDir!(p, { signal: options.signal }), p, options.signal);
    }
  }

  /** A bulk call's own `concurrency` or the filesystem's; bulk calls check it first, before they change anything. */
  private concurrencyFor(options: BulkOptions): number {
    return checkCount('concurrency', options.concurrency ?? this.concurrency, this.protocol);
  }

  /** Removes one file; "not found" on a retry means an earlier try succeeded unseen. */
  private removeOne(p: string, signal?: AbortSignal): Promise<void> {
    return this.run(p, signal, async (s, attempt) => {
      try {
        await this.adapter.remove(p, { signal: s });
      } catch (error) {
        if (!(attempt > 1 && error instanceof NotFoundError)) throw error;
      }
    });
  }

  private async removeFiles(files: string[], options: BulkOptions): Promise<void> {
    if (files.length === 0) return;
    const removeEach = (list: string[]) =>
      forEachBounded(list, this.concurrencyFor(options), async (f) => {
        try {
          await this.removeOne(f, options.signal);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error; // removed concurrently: the goal is met
        }
      });
    if (!this.adapter.removeMany) return removeEach(files);
    const batch = 1000;
    const batches: string[][] = [];
    for (let i = 0; i < files.length; i += batch) batches.push(files.slice(i, i + batch));
    await forEachBounded(batches, Math.min(4, this.concurrencyFor(options)), async (b) => {
      try {
        await this.guard(() => this.adapter.removeMany!(b, { signal: options.signal }), b[0], options.signal);
      } catch (error) {
        // Part of a failed batch may be gone already; retrying the whole batch could fail forever
        // under steady faults, so finish file by file, each with its own retries.
        if (!(error instanceof FsError) || !error.retryable) throw error;
        await removeEach(b);
      }
    });
  }

  /* ------------------------------ transfers ------------------------------ */

  async cp(src: string, dst: string, options: BulkOptions = {}): Promise<void> {
    await this.transfer(this, src, this, dst, options);
  }

  async mv(src: string, dst: string, options: BulkOptions = {}): Promise<void> {
    const { s, info, target } = await this.resolveTransfer(this, src, this, dst, options, 'move');
    // Copy-then-delete would delete the only copy: onto itself is nothing to do (as rename), into itself an error.
    if (target === s) return;
    if (info.type === 'directory' && target.startsWith(`${s}/`)) {
      throw new InvalidPathError({ path: s, protocol: this.protocol }, `Cannot move ${this.protocol}://${s} into itself (${this.protocol}://${target})`);
    }
    if (this.capabilities.atomicMove && this.adapter.moveFile) {
      try {
        await this.guard(() => this.adapter.moveFile!(s, target, { signal: options.signal }), s, options.signal);
        options.onProgress?.(info.size, info.size);
        return;
      } catch (error) {
        // A directory that cannot be renamed in one step (across devices, or onto a non-empty
        // directory, which rename cannot merge) is copied, then removed: cp -r then rm -r.
        if (!(error instanceof NotSupportedError && info.type === 'directory')) throw error;
      }
    }
    // Object stores: copy then delete. Not atomic: a crash in between leaves both copies.
    await this.transferResolved(this, s, info, this, target, options);
    await this.rm(src, { ...options, onProgress: undefined });
  }

  async put(localPath: string, path: string, options: BulkOptions = {}): Promise<void> {
    await this.transfer(await this.local(), localPath, this, path, options);
  }

  async get(path: string, localPath: string, options: BulkOptions = {}): Promise<void> {
    await this.transfer(this, path, await this.local(), localPath, options);
  }

  private async local(): Promise<AdaptedFileSystem> {
    if (this.cwdRelative) return this;
    if (!this.localPeer) {
      this.localPeer = new AdaptedFileSystem(new LocalAdapter(), { concurrency: this.concurrency, blockSize: this.blockSize });
    }
    return this.localPeer;
  }

  /** Where a copy of `info` lands: cp-like, so an existing directory or a trailing slash receives it by name. */
  private async resolveTarget(dstFs: AdaptedFileSystem, info: FileInfo, s: string, srcTrailingSlash: boolean, dst: string, signal?: AbortSignal): Promise<string> {
    const d = dstFs.normalize(dst);
    if (info.type === 'directory' && srcTrailingSlash) return d;
    const intoDir = dst.endsWith('/') || (await dstFs.isDir(d, { signal }));
    return intoDir ? joinPath(d, baseName(s)) : d;
  }

  private async transfer(srcFs: AdaptedFileSystem, src: string, dstFs: AdaptedFileSystem, dst: string, options: BulkOptions): Promise<void> {
    const { s, info, target } = await this.resolveTransfer(srcFs, src, dstFs, dst, options, 'copy');
    await this.transferResolved(srcFs, s, info, dstFs, target, options);
  }

  /** The source of a copy or move (normalised, with its info) and where it lands; a directory needs `recursive`. */
  private async resolveTransfer(srcFs: AdaptedFileSystem, src: string, dstFs: AdaptedFileSystem, dst: string, options: BulkOptions, verb: 'copy' | 'move') {
    const s = srcFs.normalize(src);
    this.concurrencyFor(options);
    const info = await srcFs.infoOf(s, options.signal);
    if (info.type === 'directory' && !options.recursive) {
      throw new IsADirectoryError({ path: s, protocol: srcFs.protocol }, `${srcFs.protocol}://${s} is a directory; pass { recursive: true } to ${verb} it`);
    }
    return { s, info, target: await this.resolveTarget(dstFs, info, s, src.endsWith('/'), dst, options.signal) };
  }

  /** Copies `s` (described by `info`) to `target`, both resolved already. */
  private async transferResolved(srcFs: AdaptedFileSystem, s: string, info: FileInfo, dstFs: AdaptedFileSystem, target: string, options: BulkOptions): Promise<void> {
    const pairs: TransferPair[] = [];
    if (info.type === 'file') pairs.push({ src: s, dst: target, size: info.size });
    else {
      const entries = await srcFs.entriesBelow(s, true, options.signal);
      for (const e of entries) {
        const rel = relativeTo(s, e.name)!;
        if (e.type === 'file') pairs.push({ src: e.name, dst: joinPath(target, rel), size: e.size });
        else if (dstFs.style === 'posix') await dstFs.mkdir(joinPath(target, rel), { signal: options.signal });
      }
      if (dstFs.style === 'posix') await dstFs.mkdir(target, { signal: options.signal });
    }
    let total = pairs.reduce((sum, pair) => sum + pair.size, 0);
    let done = 0;
    // `resized`: a file opened at another size than listed; the total follows what is copied.
    const progress = (n: number, resized = 0) => {
      total += resized;
      done += n;
      options.onProgress?.(done, total);
    };
    await forEachBounded(pairs, this.concurrencyFor(options), (pair) => this.transferOne(srcFs, dstFs, pair, progress, options.signal));
    if (pairs.length === 0) options.onProgress?.(0, 0);
  }

  private async transferOne(
    srcFs: AdaptedFileSystem,
    dstFs: AdaptedFileSystem,
    pair: TransferPair,
    progress: (n: number, resized?: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    if (srcFs === dstFs && this.adapter.copyFile) {
      await this.run(pair.src, signal, (s) => this.adapter.copyFile!(pair.src, pair.dst, { signal: s }));
      progress(pair.size);
      return;
    }
    const reader = (await srcFs.open(pair.src, 'rb', { signal })) as BlockReadHandle;
    try {
      await using writer = await dstFs.openWriter(pair.dst, 'overwrite', signal);
      // Every file reports at least once, an empty one with 0 bytes.
      if (reader.size !== pair.size || reader.size === 0) progress(0, reader.size - pair.size);
      for await (const chunk of reader.stream() as unknown as AsyncIterable<Uint8Array>) {
        await writer.write(chunk);
        progress(chunk.length);
      }
      await writer.commit();
    } finally {
      await reader.close();
    }
  }

  /* ------------------------------ misc ------------------------------ */

  async sign(path: string, options: SignOptions): Promise<string> {
    const p = this.normalize(path);
    if (!this.adapter.sign) throw new NotSupportedError({ path: p, protocol: this.protocol }, `The ${this.protocol} filesystem cannot sign URLs`);
    return this.guard(() => this.adapter.sign!(p, options), p, options.signal);
  }

  async close(): Promise<void> {
    await this.adapter.close?.();
    await this.localPeer?.close();
  }
}
