import type { RetryPolicy } from './retry.js';

export interface FileInfo {
  /** Path without protocol, e.g. `bucket/dir/file.bin` or `/tmp/x`. */
  name: string;
  type: 'file' | 'directory';
  size: number;
  mtime?: Date | undefined;
  /** Opaque version token (ETag, generation). A read handle pins it. */
  etag?: string | undefined;
  contentType?: string | undefined;
  /** A symbolic link (local files); `type` and `size` describe what it points at. */
  islink?: boolean | undefined;
  /**
   * Object stores, in adapter listings: this directory is also a stored object `name/` (a zero-byte
   * "directory marker", as consoles, s3fs/gcsfs mkdir and Storage Explorer create), which `rm -r` deletes.
   */
  marker?: boolean | undefined;
  [extra: string]: unknown;
}

export interface Capabilities {
  /** Writes become visible whole at commit, never partially. */
  atomicCommit: boolean;
  /** `mode: 'create'` is decided by the backend atomically. */
  conditionalCreate: boolean;
  rangeRead: boolean;
  /** A directory can exist without files (local disk, memory). */
  emptyDirectories: boolean;
  /** `sign()` can produce a URL for this store. */
  sign: boolean;
  /** `cp` runs server-side without moving bytes through this process. */
  serverSideCopy: boolean;
  /** `mv` is a single atomic rename. */
  atomicMove: boolean;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export type ProgressCallback = (bytesDone: number, bytesTotal: number) => void;

export interface BulkOptions extends CallOptions {
  recursive?: boolean | undefined;
  /** Parallel operations; defaults to the filesystem's `concurrency`. */
  concurrency?: number | undefined;
  onProgress?: ProgressCallback | undefined;
}

export interface FindOptions extends CallOptions {
  maxDepth?: number | undefined;
  withDirs?: boolean | undefined;
}

export interface RangeOptions extends CallOptions {
  /** Inclusive start, an integer; negative counts from the end. null or absent: from the start. */
  start?: number | null | undefined;
  /** Exclusive end, an integer; negative counts from the end. null or absent: to the end (fsspec's None). */
  end?: number | null | undefined;
}

/** What `pipe` and `WriteHandle.write` take: text (written as UTF-8), or bytes in any ArrayBuffer or view of one. */
export type WriteData = string | ArrayBufferLike | ArrayBufferView;

export type WriteMode = 'overwrite' | 'create';

export interface PipeOptions extends CallOptions {
  mode?: WriteMode | undefined;
}

export interface MkdirOptions extends CallOptions {
  parents?: boolean | undefined;
}

export interface SignOptions extends CallOptions {
  /** Seconds the URL stays valid. */
  expiresIn: number;
}

export interface WalkEntry {
  root: string;
  dirs: string[];
  files: string[];
}

export interface ReadHandle extends AsyncIterable<Uint8Array> {
  readonly path: string;
  readonly size: number;
  readonly info: FileInfo;
  /** Reads up to `n` bytes from the current position; all the rest when `n` is omitted. Empty at EOF. */
  read(n?: number): Promise<Uint8Array>;
  seek(position: number, whence?: 0 | 1 | 2): number;
  tell(): number;
  stream(): ReadableStream<Uint8Array>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface WriteHandle {
  readonly path: string;
  readonly mode: WriteMode;
  /** Bytes accepted so far. */
  readonly bytesWritten: number;
  /** Appends bytes. The caller may reuse `chunk` once the promise resolves: it has been copied or sent. */
  write(chunk: WriteData): Promise<void>;
  /** The only way data becomes visible. */
  commit(): Promise<void>;
  /** Nothing becomes visible; server-side leftovers are cleaned. */
  abort(): Promise<void>;
  /** Aborts unless committed. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * Replaces bytes already written, before commit; `position + chunk.length` must pass neither
   * bytesWritten nor patchableBytes. Present only where unfinished bytes stay private and
   * changeable: the whole file on file and memory, the first part of an S3 multipart upload or an
   * Azure block upload (held back until commit). It lets a writer fill in a header it can only
   * know at the end.
   */
  patch?(position: number, chunk: Uint8Array): Promise<void>;
  /** How far from the start `patch` reaches (Infinity on file and memory); absent without patch. */
  readonly patchableBytes?: number;
}

/** The public API every protocol exposes. */
export interface FileSystem {
  readonly protocol: string;
  readonly capabilities: Readonly<Capabilities>;
  /** Operations bulk calls run at once unless told otherwise (the `concurrency` option, default 16). */
  readonly concurrency: number;
  info(path: string, options?: CallOptions): Promise<FileInfo>;
  exists(path: string, options?: CallOptions): Promise<boolean>;
  isFile(path: string, options?: CallOptions): Promise<boolean>;
  isDir(path: string, options?: CallOptions): Promise<boolean>;
  ls(path: string, options?: CallOptions): Promise<FileInfo[]>;
  find(path: string, options?: FindOptions): Promise<string[]>;
  glob(pattern: string, options?: CallOptions): Promise<string[]>;
  walk(path: string, options?: FindOptions): AsyncIterable<WalkEntry>;
  du(path: string, options?: CallOptions): Promise<number>;
  cat(path: string, options?: RangeOptions): Promise<Uint8Array>;
  catRanges(paths: string[], starts: Array<number | null | undefined>, ends: Array<number | null | undefined>, options?: BulkOptions): Promise<Uint8Array[]>;
  pipe(path: string, data: WriteData, options?: PipeOptions): Promise<void>;
  open(path: string, mode: 'rb', options?: CallOptions): Promise<ReadHandle>;
  open(path: string, mode: 'wb' | 'xb', options?: CallOptions): Promise<WriteHandle>;
  put(localPath: string, path: string, options?: BulkOptions): Promise<void>;
  get(path: string, localPath: string, options?: BulkOptions): Promise<void>;
  cp(src: string, dst: string, options?: BulkOptions): Promise<void>;
  mv(src: string, dst: string, options?: BulkOptions): Promise<void>;
  rm(path: string, options?: BulkOptions): Promise<void>;
  mkdir(path: string, options?: MkdirOptions): Promise<void>;
  touch(path: string, options?: CallOptions): Promise<void>;
  sign?(path: string, options: SignOptions): Promise<string>;
  /** Turns a path of this filesystem back into a URL. */
  unstripProtocol(path: string): string;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}

/* ------------------------------------------------------------------ */
/* The small core a backend implements. fs-core derives the rest.      */
/* ------------------------------------------------------------------ */

/** Receives bytes in order; nothing is visible until `commit`. */
export interface AdapterWriter {
  /** Must not keep a reference to `chunk` after resolving: callers reuse their buffers. */
  write(chunk: Uint8Array, signal?: AbortSignal): Promise<void>;
  commit(signal?: AbortSignal): Promise<void>;
  abort(): Promise<void>;
  /** Optional: see WriteHandle.patch. The handle has checked the range. */
  patch?(position: number, chunk: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** With patch: how far from the start it reaches (default Infinity). */
  readonly patchableBytes?: number;
}

export interface AdapterReadOptions extends CallOptions {
  /** Fail with ConflictError if the object's version is no longer this one. */
  etag?: string | undefined;
}

export interface AdapterWriteOptions extends CallOptions {
  /** The filesystem's retry policy; chunked writers retry parts and whole-body PUTs with it. */
  retry?: RetryPolicy | undefined;
}

export interface AdapterHeadOptions extends CallOptions {
  /**
   * false: describe a symbolic link itself (lstat: a `file` with `islink`) instead of what it points
   * at, so `rm` can remove a dangling, looping or root-escaping link. Stores without links ignore it.
   */
  follow?: boolean | undefined;
}

export interface AdapterListOptions extends CallOptions {
  /**
   * false: direct children (files and dirs). true: every file below (and dirs when the store has
   * real ones, or directory markers).
   */
  recursive: boolean;
}

/**
 * What a backend implements. Paths arrive normalised: no protocol, no `.`/`..`,
 * no duplicate or trailing slashes (but for directory markers given to `remove` and `removeMany`);
 * object stores get `bucket/key`.
 */
export interface StorageAdapter {
  readonly protocol: string;
  readonly capabilities: Capabilities;

  /**
   * Info for a file, or for a directory on stores with real directories or for a bucket root.
   * Object stores throw NotFoundError for a key with no object; fs-core then lists the prefix, which
   * finds both keys below it and its own directory marker.
   */
  head(path: string, options: AdapterHeadOptions): Promise<FileInfo>;
  /**
   * Entries below `path`, any order; fs-core sorts. Throws NotFoundError if the bucket is missing.
   * Object stores yield every key ending in '/' (a directory marker) as a directory named without
   * that slash, with `marker: true`, never as a file: in recursive listings, and for `path`'s own
   * marker (named `path`) in both kinds, which tells fs-core that an otherwise empty directory exists.
   * Names are passed through as stored: fs-core drops every entry that is not strictly below `path`
   * (nor a direct child, when not recursive) or that no normalised path names (`a//b`, `a/./b`).
   */
  list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo>;
  /**
   * Bytes [start, end) of a file, `start < end` or `end` undefined (to the end). The backend clamps
   * `end` to the size and returns an empty array when `start` is at or past the end.
   */
  read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array>;
  createWriter(path: string, mode: WriteMode, options: AdapterWriteOptions): Promise<AdapterWriter>;
  /**
   * Removes one file. NotFoundError if it does not exist. Object stores also get directory markers
   * here and in `removeMany`: a path ending in '/' names the marker object itself (`bucket/dir/`).
   */
  remove(path: string, options: CallOptions): Promise<void>;

  /** Optional fast paths; fs-core falls back to the required core without them. */
  readStream?(path: string, start: number, end: number | undefined, options: AdapterReadOptions): AsyncIterable<Uint8Array>;
  /**
   * Writes a whole body in one step, with createWriter's guarantees (atomic, `mode` honoured); `pipe`
   * uses it. May keep `data` until it resolves. Not retried by fs-core: retry inside with `options.retry`.
   */
  writeFile?(path: string, data: Uint8Array, mode: WriteMode, options: AdapterWriteOptions): Promise<void>;
  removeMany?(paths: string[], options: CallOptions): Promise<void>;
  copyFile?(src: string, dst: string, options: CallOptions): Promise<void>;
  moveFile?(src: string, dst: string, options: CallOptions): Promise<void>;
  /** Stores with real directories. Object stores create a bucket for a bare bucket path, or do nothing. */
  makeDir?(path: string, options: MkdirOptions): Promise<void>;
  /** Sets an existing file's modification time to now (stores where it can be set without a rewrite); `touch` uses it. */
  touchExisting?(path: string, options: CallOptions): Promise<void>;
  /** Removes an empty directory (real-directory stores). */
  removeDir?(path: string, options: CallOptions): Promise<void>;
  sign?(path: string, options: SignOptions): Promise<string>;
  close?(): Promise<void>;
  /**
   * The one spelling of a normalised path that this store's listings use, for stores that accept
   * others (Azure's `container@account.dfs.core.windows.net/key` for `container/key`). fs-core
   * compares, nests and copies by path, so every path it gets is passed through this first.
   */
  canonicalPath?(path: string): string;
}

export interface FileSystemOptions {
  /** Parallel operations in bulk calls (default 16). */
  concurrency?: number | undefined;
  /** Block size for read handles (default 8 MiB). */
  blockSize?: number | undefined;
  /** Retry limits for this filesystem's operations. */
  retry?: import('./retry.js').RetryOptions | undefined;
}
