import { posix } from 'node:path';

import { Volume } from 'memfs';

import { AlreadyExistsError, ConflictError, FsError, InvalidPathError, IsADirectoryError, NotADirectoryError, NotSupportedError, PermissionDeniedError, StorageError, throwIfAborted } from '../errors.js';
import type {
  AdapterListOptions,
  AdapterReadOptions,
  AdapterWriter,
  CallOptions,
  Capabilities,
  FileInfo,
  MkdirOptions,
  StorageAdapter,
  WriteMode,
} from '../types.js';
import { isNormalPosixPath } from '../paths.js';
import { fromErrno, hasErrno } from './errno.js';

export interface MemoryAdapterOptions {
  /**
   * `'shared'` (default): one store per process, so every `memory://` filesystem sees the same
   * files, as in fsspec. `'private'`: a fresh store for this filesystem only (tests).
   */
  store?: 'shared' | 'private' | undefined;
  /** Use this memfs volume as the store (implies a store shared by everyone given the same volume). */
  volume?: Volume | undefined;
}

const PROTOCOL = 'memory';

/** The part of memfs's Stats we use (its typings mix number and bigint variants). */
interface MemoryStats {
  isDirectory(): boolean;
  size: number | bigint;
  ino: number | bigint;
  mtimeMs: number | bigint;
  mtime: Date;
}

function statPath(volume: Volume, path: string): MemoryStats {
  return volume.statSync(path);
}

/** Like statPath, but undefined for a missing path without building (and throwing) an ENOENT error. */
function statIfExists(volume: Volume, path: string): MemoryStats | undefined {
  return volume.statSync(path, { throwIfNoEntry: false });
}

/**
 * A memfs volume plus a version per path. memfs reuses inode numbers, so they cannot tell two
 * versions apart; every commit, copy and move instead takes a fresh number from a counter.
 */
class MemoryStore {
  private readonly versions = new Map<string, number>();
  private counter = 0;

  constructor(readonly volume: Volume) {}

  bump(path: string): void {
    this.versions.set(path, ++this.counter);
  }

  forget(path: string): void {
    this.versions.delete(path);
  }

  /** Moves the versions of `from` and everything below it to `to`. */
  move(from: string, to: string): void {
    for (const [path, version] of [...this.versions]) {
      if (path === from || path.startsWith(`${from}/`)) {
        this.versions.delete(path);
        this.versions.set(to + path.slice(from.length), version);
      }
    }
    this.bump(to);
  }

  etag(path: string, stats: MemoryStats): string {
    const version = this.versions.get(path);
    // Files put into a user-supplied volume behind our back have no version; fall back to stats.
    return version === undefined ? `x-${stats.ino}-${stats.mtimeMs}-${stats.size}` : `v${version}`;
  }
}

const storesByVolume = new WeakMap<Volume, MemoryStore>();

function storeFor(volume: Volume): MemoryStore {
  let store = storesByVolume.get(volume);
  if (!store) {
    store = new MemoryStore(volume);
    storesByVolume.set(volume, store);
  }
  return store;
}

/**
 * A fresh volume whose process answers uid and gid from a snapshot taken now: memfs asks for both
 * on every path lookup, and those native calls cost more than the lookup itself.
 */
function newVolume(): Volume {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const owner = {
    getuid: () => uid,
    getgid: () => gid,
    cwd: () => '/',
    platform: process.platform,
    emitWarning: (message: string, type: string) => process.emitWarning(message, type),
    env: process.env,
  };
  return Volume.fromNestedJSON({}, '/', { process: owner });
}

let sharedStore: MemoryStore | undefined;

/** The process-wide store behind `memory://` (created on first use). */
export function sharedMemoryVolume(): Volume {
  sharedStore ??= storeFor(newVolume());
  return sharedStore.volume;
}

/**
 * `memory` protocol on a memfs volume. Every operation runs synchronously against the volume,
 * so a commit (check, create parents, swap in the new bytes) cannot interleave with another
 * within the process: 'create' is atomic and readers never see a half-written file.
 */
export class MemoryAdapter implements StorageAdapter {
  readonly protocol = PROTOCOL;
  readonly capabilities: Capabilities = {
    atomicCommit: true,
    conditionalCreate: true,
    rangeRead: true,
    emptyDirectories: true,
    sign: false,
    serverSideCopy: true,
    atomicMove: true,
  };

  private readonly store: MemoryStore;

  constructor(options: MemoryAdapterOptions = {}) {
    if (options.volume) this.store = storeFor(options.volume);
    else if (options.store === 'private') this.store = new MemoryStore(newVolume());
    else if (options.store === undefined || options.store === 'shared') this.store = storeFor(sharedMemoryVolume());
    else throw new InvalidPathError({ protocol: PROTOCOL }, `Unknown memory store option: ${String(options.store)} (use 'shared' or 'private')`);
  }

  /** The memfs volume behind this filesystem, e.g. to inspect it in tests. */
  get volume(): Volume {
    return this.store.volume;
  }

  async head(path: string, options: CallOptions): Promise<FileInfo> {
    const at = normalise(path, options.signal);
    const stats = this.run(at, () => statPath(this.store.volume, at));
    return this.toInfo(at, stats);
  }

  /** Shallow: direct children. Recursive: every file and directory below (directories are real here). */
  async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    const top = normalise(path, options.signal);
    const entries: FileInfo[] = [];
    const pending = [top];
    let first = true;
    while (pending.length > 0) {
      const dir = pending.pop()!;
      throwIfAborted(options.signal, { path: dir, protocol: PROTOCOL });
      let names: string[];
      try {
        names = this.store.volume.readdirSync(dir, { encoding: 'utf8' }) as string[];
      } catch (error) {
        if (!first && hasErrno(error, 'ENOENT')) continue;
        throw fromErrno(error, dir, PROTOCOL);
      }
      first = false;
      for (const name of names) {
        const child = dir === '/' ? `/${name}` : `${dir}/${name}`;
        let stats: MemoryStats;
        try {
          stats = statPath(this.store.volume, child);
        } catch (error) {
          if (hasErrno(error, 'ENOENT')) continue;
          throw fromErrno(error, child, PROTOCOL);
        }
        entries.push(this.toInfo(child, stats));
        if (options.recursive && stats.isDirectory()) pending.push(child);
      }
    }
    // Snapshot first, then yield: the listing reflects one moment even if the caller writes while iterating.
    yield* entries;
  }

  async read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array> {
    const at = normalise(path, options.signal);
    const volume = this.store.volume;
    if (start <= 0 && end === undefined && options.etag === undefined) {
      // The whole file (cat): memfs looks the path up once and copies the bytes out.
      const data = this.run(at, () => volume.readFileSync(at) as Buffer);
      // Small Buffers are slices of Node's shared pool; hand out memory of its own, as the other backends do.
      return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? new Uint8Array(data.buffer) : new Uint8Array(data);
    }
    return this.run(at, () => {
      // One path lookup: open, then stat the descriptor (which needs no lookup).
      const fd = volume.openSync(at, 'r');
      try {
        const stats = volume.fstatSync(fd) as MemoryStats;
        if (stats.isDirectory()) throw new IsADirectoryError({ path: at, protocol: PROTOCOL });
        if (options.etag !== undefined && this.store.etag(at, stats) !== options.etag) throw new ConflictError({ path: at, protocol: PROTOCOL });
        const size = Number(stats.size);
        const from = Math.min(Math.max(0, start), size);
        const to = Math.min(end ?? size, size);
        if (to <= from) return new Uint8Array(0);
        const buffer = new Uint8Array(to - from);
        let filled = 0;
        while (filled < buffer.length) {
          const bytesRead = volume.readSync(fd, buffer, filled, buffer.length - filled, from + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return filled === buffer.length ? buffer : buffer.subarray(0, filled);
      } finally {
        volume.closeSync(fd);
      }
    });
  }

  async createWriter(path: string, mode: WriteMode, options: CallOptions): Promise<AdapterWriter> {
    const at = normalise(path, options.signal);
    if (mode === 'create') {
      // Fails early for the common case; commit decides again, atomically. ('overwrite' is decided at commit only.)
      const existing = this.statOrUndefined(at);
      if (existing?.isDirectory()) throw new IsADirectoryError({ path: at, protocol: PROTOCOL });
      if (existing) throw new AlreadyExistsError({ path: at, protocol: PROTOCOL });
    }
    return new MemoryWriter(at, mode, (data) => this.swapIn(at, mode, data));
  }

  /** pipe's path: the commit alone (it copies the bytes into the volume), with no writer in between. */
  async writeFile(path: string, data: Uint8Array, mode: WriteMode, options: CallOptions): Promise<void> {
    this.swapIn(normalise(path, options.signal), mode, data);
  }

  async remove(path: string, options: CallOptions): Promise<void> {
    const at = normalise(path, options.signal);
    this.run(at, () => {
      if ((this.store.volume.lstatSync(at) as MemoryStats).isDirectory()) throw new IsADirectoryError({ path: at, protocol: PROTOCOL });
      this.store.volume.unlinkSync(at);
    });
    this.store.forget(at);
  }

  async copyFile(src: string, dst: string, options: CallOptions): Promise<void> {
    const from = normalise(src, options.signal);
    const to = normalise(dst, options.signal);
    const volume = this.store.volume;
    const data = this.run(from, () => {
      if (statPath(volume, from).isDirectory()) throw new IsADirectoryError({ path: from, protocol: PROTOCOL });
      return volume.readFileSync(from) as Buffer;
    });
    this.swapIn(to, 'overwrite', data);
  }

  async moveFile(src: string, dst: string, options: CallOptions): Promise<void> {
    const from = normalise(src, options.signal);
    const to = normalise(dst, options.signal);
    const volume = this.store.volume;
    const source = this.run(from, () => statPath(volume, from));
    if (to === from) return;
    if (to.startsWith(`${from}/`)) {
      throw new InvalidPathError({ path: to, protocol: PROTOCOL }, `Cannot move ${PROTOCOL}://${from} into itself: ${PROTOCOL}://${to}`);
    }
    this.makeParents(to);
    // memfs's rename does not detach an existing target (its parent then never counts as empty
    // again), so replace the target explicitly, with rename(2)'s rules. Still one synchronous step.
    const target = this.statOrUndefined(to);
    if (target?.isDirectory()) {
      if (!source.isDirectory()) throw new IsADirectoryError({ path: to, protocol: PROTOCOL });
      // Like rename(2), replace only an empty directory; the facade merges into a full one (cp -r, then rm -r).
      if (this.run(to, () => volume.readdirSync(to)).length > 0) {
        throw new NotSupportedError({ path: to, protocol: PROTOCOL }, `Cannot rename a directory onto a non-empty directory: ${PROTOCOL}://${to}`);
      }
      this.run(to, () => volume.rmdirSync(to));
    } else if (target) {
      if (source.isDirectory()) throw new NotADirectoryError({ path: to, protocol: PROTOCOL });
      this.run(to, () => volume.unlinkSync(to));
    }
    this.run(from, () => volume.renameSync(from, to));
    this.store.forget(to);
    this.store.move(from, to);
  }

  async touchExisting(path: string, options: CallOptions): Promise<void> {
    const at = normalise(path, options.signal);
    const now = new Date();
    this.run(at, () => this.store.volume.utimesSync(at, now, now));
  }

  async makeDir(path: string, options: MkdirOptions): Promise<void> {
    const at = normalise(path, options.signal);
    const volume = this.store.volume;
    this.run(at, () => {
      if (options.parents) {
        const existing = this.statOrUndefined(at);
        if (existing && !existing.isDirectory()) throw new AlreadyExistsError({ path: at, protocol: PROTOCOL });
        volume.mkdirSync(at, { recursive: true });
      } else {
        volume.mkdirSync(at);
      }
    });
  }

  async removeDir(path: string, options: CallOptions): Promise<void> {
    const at = normalise(path, options.signal);
    if (at === '/') throw new PermissionDeniedError({ path: at, protocol: PROTOCOL }, `Refusing to remove the root directory: ${PROTOCOL}:///`);
    this.run(at, () => {
      if (!statPath(this.store.volume, at).isDirectory()) throw new NotADirectoryError({ path: at, protocol: PROTOCOL });
      this.store.volume.rmdirSync(at);
    });
  }

  /* ------------------------------------------------------------------ */

  /**
   * The commit: one synchronous write, so no other operation of this process can slip in. The 'wx'
   * flag makes memfs itself refuse an existing path for 'create'; parents are made only when missing.
   */
  private swapIn(at: string, mode: WriteMode, data: Uint8Array): void {
    const volume = this.store.volume;
    const flags = { flag: mode === 'create' ? 'wx' : 'w' };
    try {
      volume.writeFileSync(at, data, flags);
    } catch (error) {
      if (!hasErrno(error, 'ENOENT')) throw this.writeError(at, error);
      this.makeParents(at);
      try {
        volume.writeFileSync(at, data, flags);
      } catch (retryError) {
        throw this.writeError(at, retryError);
      }
    }
    this.store.bump(at);
  }

  private writeError(at: string, error: unknown): FsError {
    // 'wx' says EEXIST for a directory too; what is in the way is a directory, not a file.
    if (hasErrno(error, 'EEXIST') && this.statOrUndefined(at)?.isDirectory()) {
      return new IsADirectoryError({ path: at, protocol: PROTOCOL, cause: error });
    }
    return fromErrno(error, at, PROTOCOL);
  }

  private makeParents(at: string): void {
    try {
      this.store.volume.mkdirSync(posix.dirname(at), { recursive: true });
    } catch (error) {
      if (hasErrno(error, 'EEXIST', 'ENOTDIR')) throw new NotADirectoryError({ path: at, protocol: PROTOCOL, cause: error });
      throw fromErrno(error, at, PROTOCOL);
    }
  }

  private statOrUndefined(at: string): MemoryStats | undefined {
    return this.run(at, () => statIfExists(this.store.volume, at));
  }

  private run<T>(path: string, operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw fromErrno(error, path, PROTOCOL);
    }
  }

  private toInfo(name: string, stats: MemoryStats): FileInfo {
    if (stats.isDirectory()) return { name, type: 'directory', size: 0, mtime: stats.mtime };
    return { name, type: 'file', size: Number(stats.size), mtime: stats.mtime, etag: this.store.etag(name, stats) };
  }
}

function normalise(path: string, signal: AbortSignal | undefined): string {
  throwIfAborted(signal, { path, protocol: PROTOCOL });
  if (isNormalPosixPath(path)) return path;
  if (path.includes('\0')) throw new InvalidPathError({ protocol: PROTOCOL }, 'Path contains a NUL byte');
  const segments = path.split('/').filter((segment) => segment !== '');
  if (segments.some((segment) => segment === '..' || segment === '.')) {
    throw new InvalidPathError({ path, protocol: PROTOCOL }, `Path must be normalised (no "." or ".."): ${PROTOCOL}://${path}`);
  }
  return `/${segments.join('/')}`;
}

type WriterState = 'open' | 'committed' | 'aborted' | 'failed';

/** Collects the bytes aside; nothing touches the volume until commit. */
class MemoryWriter implements AdapterWriter {
  private readonly chunks: Buffer[] = [];
  private state: WriterState = 'open';

  constructor(
    private readonly path: string,
    private readonly mode: WriteMode,
    private readonly swapIn: (data: Uint8Array) => void,
  ) {}

  async write(chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal, { path: this.path, protocol: PROTOCOL });
    this.assertOpen();
    // Copy: the caller may reuse its buffer once write() resolves. A Buffer, so memfs takes it without another copy.
    this.chunks.push(Buffer.from(chunk));
  }

  async patch(position: number, chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal, { path: this.path, protocol: PROTOCOL });
    this.assertOpen();
    let start = 0;
    for (const stored of this.chunks) {
      const end = start + stored.length;
      if (end > position && start < position + chunk.length) {
        const from = Math.max(position, start);
        const to = Math.min(position + chunk.length, end);
        stored.set(chunk.subarray(from - position, to - position), from - start);
      }
      start = end;
    }
  }

  async commit(signal?: AbortSignal): Promise<void> {
    this.assertOpen();
    if (signal?.aborted) {
      this.discard('aborted');
      throwIfAborted(signal, { path: this.path, protocol: PROTOCOL });
    }
    try {
      this.swapIn(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
      this.state = 'committed';
    } catch (error) {
      this.discard('failed');
      throw error;
    }
    this.chunks.length = 0;
  }

  async abort(): Promise<void> {
    if (this.state === 'open') this.discard('aborted');
  }

  private discard(state: WriterState): void {
    this.state = state;
    this.chunks.length = 0;
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new StorageError({ path: this.path, protocol: PROTOCOL }, `Writer is ${this.state} (mode ${this.mode}): ${PROTOCOL}://${this.path}`);
    }
  }
}
