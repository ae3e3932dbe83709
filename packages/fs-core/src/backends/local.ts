import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent, type Stats } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, readlink, realpath, rename, rmdir, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';

import { AlreadyExistsError, ConflictError, InvalidPathError, IsADirectoryError, NotADirectoryError, NotFoundError, NotSupportedError, PermissionDeniedError, StorageError, throwIfAborted } from '../errors.js';
import type {
  AdapterHeadOptions,
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

export interface LocalAdapterOptions {
  /**
   * Confines every path to this directory, chroot-like: `/a/b` means `<root>/a/b`.
   * Paths whose real location (symlinks resolved) leaves the root are refused.
   */
  root?: string | undefined;
}

const PROTOCOL = 'file';

/** At most this many code points of the target's name go into its temp file's name. */
const TEMP_BASE_LENGTH = 40;

/**
 * Temp files live next to their target; this pattern keeps them out of listings. It is exactly the
 * form tempPathFor makes (1 to 40 code points, 16 hex digits), so a user's file that merely looks
 * similar (`.notes.strata-beef.tmp`) stays visible.
 */
const TEMP_FILE = new RegExp(`^\\..{1,${TEMP_BASE_LENGTH}}\\.strata-[0-9a-f]{16}\\.tmp$`, 'su');

export function isLocalTempFile(name: string): boolean {
  return TEMP_FILE.test(name);
}

function tempPathFor(target: string): string {
  // Keep the name well under NAME_MAX (255 bytes) even for long, multi-byte base names.
  const base = Array.from(posix.basename(target)).slice(0, TEMP_BASE_LENGTH).join('');
  return posix.join(posix.dirname(target), `.${base}.strata-${randomBytes(8).toString('hex')}.tmp`);
}

/** Changes whenever the file is replaced (new inode) or rewritten in place (mtime, size). */
export function localEtag(stats: Stats): string {
  return `${stats.mtimeMs}-${stats.size}-${stats.ino}`;
}

/** Makes a rename, link or unlink in `dir` durable. Some platforms cannot fsync a directory; that is not an error. */
async function fsyncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!hasErrno(error, 'EISDIR', 'EINVAL', 'EPERM', 'EBADF', 'ENOTSUP', 'EACCES')) throw error;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

/** How the last path component is treated when checking root confinement. */
type Follow = 'all' | 'parent';

/** The on-disk path plus the caller's (root-relative) path used in names and messages. */
interface Located {
  real: string;
  path: string;
}

/**
 * `file` protocol on node:fs. Writes go to a temp file in the target's directory and become
 * visible only at commit (fsync, rename or link, fsync the directory).
 */
export class LocalAdapter implements StorageAdapter {
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

  readonly root: string | undefined;
  private realRoot: Promise<string> | undefined;

  constructor(options: LocalAdapterOptions = {}) {
    const root: unknown = options.root;
    if (root !== undefined && typeof root !== 'string') {
      throw new InvalidPathError({ protocol: PROTOCOL }, `The file root option must be a string (a directory), got ${root === null ? 'null' : typeof root}`);
    }
    this.root = root === undefined ? undefined : posix.resolve(root);
  }

  async head(path: string, options: AdapterHeadOptions): Promise<FileInfo> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    // Not following, the last component is not resolved, so only its parent must stay inside the root.
    const follow = options.follow !== false;
    const at = await this.locate(path, follow ? 'all' : 'parent');
    const failed = (error: unknown): never => {
      throw fromErrno(error, at.path, PROTOCOL);
    };
    // lstat first: callers must know a link from what it points at (rm -r removes the link only).
    const own = await lstat(at.real).catch(failed);
    if (!own.isSymbolicLink()) return toInfo(at.path, own);
    if (!follow) return toInfo(at.path, own, true);
    return toInfo(at.path, await stat(at.real).catch(failed), true);
  }

  /**
   * Shallow: files and directories directly below `path`.
   * Recursive: every file AND every directory below (emptyDirectories is true, so the facade can
   * show empty directories when asked `withDirs`); symlinked directories are listed but not
   * descended into, like os.walk(followlinks=False), so a symlink loop cannot recurse forever.
   * Under a `root`, symlinks whose target leaves the root are left out, never followed.
   */
  async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const top = await this.locate(path, 'all');
    const pending: Located[] = [top];
    let first = true;
    while (pending.length > 0) {
      const dir = pending.pop()!;
      throwIfAborted(options.signal, { path: dir.path, protocol: PROTOCOL });
      let entries;
      try {
        entries = await readdir(dir.real, { withFileTypes: true });
      } catch (error) {
        // A directory removed while we walk it is simply gone; only the top must exist.
        if (!first && hasErrno(error, 'ENOENT')) continue;
        throw fromErrno(error, dir.path, PROTOCOL);
      }
      first = false;
      for (const entry of entries) {
        const child: Located = { real: posix.join(dir.real, entry.name), path: joinPath(dir.path, entry.name) };
        let stats: Stats;
        try {
          if (await this.hiddenFromListings(entry, child.real)) continue;
          if (entry.isSymbolicLink()) {
            stats = await stat(child.real).catch(async (error: unknown) => {
              // A dangling link is still an entry (it can be removed); it reads as not found.
              if (hasErrno(error, 'ENOENT', 'ELOOP')) return lstat(child.real);
              throw error;
            });
          } else {
            stats = await lstat(child.real);
          }
        } catch (error) {
          if (hasErrno(error, 'ENOENT')) continue; // removed since readdir
          throw fromErrno(error, child.path, PROTOCOL);
        }
        yield toInfo(child.path, stats, entry.isSymbolicLink());
        if (options.recursive && entry.isDirectory()) pending.push(child);
      }
    }
  }

  async read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const at = await this.locate(path, 'all');
    const { handle, size } = await this.openForRead(at, options.etag);
    try {
      const from = Math.min(Math.max(0, start), size);
      const to = Math.min(end ?? size, size);
      if (to <= from) return new Uint8Array(0);
      const buffer = new Uint8Array(to - from);
      let filled = 0;
      while (filled < buffer.length) {
        throwIfAborted(options.signal, { path, protocol: PROTOCOL });
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, from + filled);
        if (bytesRead === 0) break; // truncated underneath us
        filled += bytesRead;
      }
      return filled === buffer.length ? buffer : buffer.subarray(0, filled);
    } catch (error) {
      throw fromErrno(error, at.path, PROTOCOL);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async *readStream(path: string, start: number, end: number | undefined, options: AdapterReadOptions): AsyncIterable<Uint8Array> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const at = await this.locate(path, 'all');
    const { handle, size } = await this.openForRead(at, options.etag);
    const from = Math.min(Math.max(0, start), size);
    const to = Math.min(end ?? size, size);
    if (to <= from) {
      await handle.close();
      return;
    }
    // The stream owns the handle from here and closes it on end, error or early break.
    const stream = handle.createReadStream({ start: from, end: to - 1, highWaterMark: 1 << 20 });
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        throwIfAborted(options.signal, { path, protocol: PROTOCOL });
        yield chunk;
      }
    } catch (error) {
      throw fromErrno(error, at.path, PROTOCOL);
    } finally {
      stream.destroy();
    }
  }

  async createWriter(path: string, mode: WriteMode, options: CallOptions): Promise<AdapterWriter> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const at = await this.locate(path, 'all');
    if (mode === 'create') {
      const existing = await stat(at.real).catch((error: unknown) => {
        if (hasErrno(error, 'ENOENT')) return undefined;
        throw fromErrno(error, at.path, PROTOCOL);
      });
      if (existing?.isDirectory()) throw new IsADirectoryError({ path: at.path, protocol: PROTOCOL });
      // Fails early for the common case; commit still decides atomically (link) for races.
      if (existing) throw new AlreadyExistsError({ path: at.path, protocol: PROTOCOL });
    }
    // 'overwrite' looks nothing up first: commit's rename refuses a directory (EISDIR) by itself.
    const temp = tempPathFor(at.real);
    let handle: FileHandle;
    try {
      handle = await open(temp, 'wx', 0o666);
    } catch (error) {
      if (!hasErrno(error, 'ENOENT')) throw fromErrno(error, at.path, PROTOCOL);
      // Parents are made only when missing (most writes go to an existing directory), then one more try.
      await this.makeParents(at);
      try {
        handle = await open(temp, 'wx', 0o666);
      } catch (retryError) {
        throw fromErrno(retryError, at.path, PROTOCOL);
      }
    }
    return new LocalWriter(at, temp, handle, mode);
  }

  async remove(path: string, options: CallOptions): Promise<void> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    // unlink removes a symlink itself and never follows it, so only the parent must stay inside.
    const at = await this.locate(path, 'parent');
    if (at.real === (await this.rootReal())) throw new IsADirectoryError({ path: at.path, protocol: PROTOCOL });
    try {
      await unlink(at.real);
    } catch (error) {
      // Linux says EISDIR for a directory, macOS EPERM.
      if (hasErrno(error, 'EISDIR', 'EPERM') && (await lstat(at.real).then((s) => s.isDirectory(), () => false))) {
        throw new IsADirectoryError({ path: at.path, protocol: PROTOCOL, cause: error });
      }
      throw fromErrno(error, at.path, PROTOCOL);
    }
  }

  async copyFile(src: string, dst: string, options: CallOptions): Promise<void> {
    throwIfAborted(options.signal, { path: src, protocol: PROTOCOL });
    const from = await this.locate(src, 'all');
    const to = await this.locate(dst, 'all');
    const source = await stat(from.real).catch((error: unknown) => {
      throw fromErrno(error, from.path, PROTOCOL);
    });
    if (source.isDirectory()) throw new IsADirectoryError({ path: from.path, protocol: PROTOCOL });
    await this.makeParents(to);
    const temp = tempPathFor(to.real);
    try {
      await copyFile(from.real, temp, fsConstants.COPYFILE_FICLONE | fsConstants.COPYFILE_EXCL).catch((error: unknown) => {
        throw fromErrno(error, from.path, PROTOCOL);
      });
      const handle = await open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      throwIfAborted(options.signal, { path: dst, protocol: PROTOCOL });
      await rename(temp, to.real);
    } catch (error) {
      await unlinkQuietly(temp);
      throw fromErrno(error, to.path, PROTOCOL);
    }
    await fsyncDirectory(posix.dirname(to.real)).catch((error: unknown) => {
      throw fromErrno(error, to.path, PROTOCOL);
    });
  }

  async moveFile(src: string, dst: string, options: CallOptions): Promise<void> {
    throwIfAborted(options.signal, { path: src, protocol: PROTOCOL });
    const from = await this.locate(src, 'all');
    const to = await this.locate(dst, 'all');
    await this.makeParents(to);
    try {
      await rename(from.real, to.real);
    } catch (error) {
      // rename(2) replaces an empty directory but cannot merge into a full one; the facade then
      // copies the tree into it and removes the source, as cp -r then rm -r would.
      if (hasErrno(error, 'ENOTEMPTY', 'EEXIST') && (await lstat(from.real).then((s) => s.isDirectory(), () => false))) {
        throw new NotSupportedError({ path: to.path, protocol: PROTOCOL, cause: error }, `Cannot rename a directory onto a non-empty directory: ${PROTOCOL}://${to.path}`);
      }
      if (!hasErrno(error, 'EXDEV')) throw fromErrno(error, hasErrno(error, 'ENOENT') ? from.path : to.path, PROTOCOL);
      // Different devices: no atomic rename is possible, so copy (itself atomic) and delete.
      if ((await lstat(from.real)).isDirectory()) {
        // The facade then moves the tree file by file.
        throw new NotSupportedError({ path: from.path, protocol: PROTOCOL, cause: error }, `Cannot rename a directory across devices: ${PROTOCOL}://${from.path}`);
      }
      await this.copyFile(src, dst, options);
      await this.remove(src, options);
      return;
    }
    try {
      await fsyncDirectory(posix.dirname(to.real));
      if (posix.dirname(to.real) !== posix.dirname(from.real)) await fsyncDirectory(posix.dirname(from.real));
    } catch (error) {
      throw fromErrno(error, to.path, PROTOCOL);
    }
  }

  async makeDir(path: string, options: MkdirOptions): Promise<void> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const at = await this.locate(path, 'all');
    try {
      await mkdir(at.real, { recursive: options.parents ?? false });
    } catch (error) {
      throw fromErrno(error, at.path, PROTOCOL);
    }
    // mkdir -p succeeds silently on an existing file; a directory was asked for.
    const made = await stat(at.real).catch((error: unknown) => {
      throw fromErrno(error, at.path, PROTOCOL);
    });
    if (!made.isDirectory()) throw new AlreadyExistsError({ path: at.path, protocol: PROTOCOL });
  }

  async touchExisting(path: string, options: CallOptions): Promise<void> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const at = await this.locate(path, 'all');
    const now = new Date();
    try {
      await utimes(at.real, now, now);
    } catch (error) {
      throw fromErrno(error, at.path, PROTOCOL);
    }
  }

  async removeDir(path: string, options: CallOptions): Promise<void> {
    throwIfAborted(options.signal, { path, protocol: PROTOCOL });
    const at = await this.locate(path, 'parent');
    if (this.root !== undefined && at.real === (await this.rootReal())) {
      throw new PermissionDeniedError({ path: at.path, protocol: PROTOCOL }, `Refusing to remove the root directory: ${PROTOCOL}://${at.path}`);
    }
    try {
      // A symlinked directory is listed as a directory but never descended into; removing it
      // removes the link, like shutil.rmtree, and leaves the files it points at alone.
      if ((await lstat(at.real)).isSymbolicLink()) await unlink(at.real);
      else await this.rmdirWithHidden(at.real);
    } catch (error) {
      throw fromErrno(error, at.path, PROTOCOL);
    }
  }

  /**
   * rmdir, after removing what listings hide and so rm -r never saw: temp files of writers (a
   * crashed one's would block the directory forever) and, under a root, links leading out of it
   * (unlinked, never followed). Anything visible still in the directory fails it as before.
   */
  private async rmdirWithHidden(real: string): Promise<void> {
    try {
      await rmdir(real);
      return;
    } catch (error) {
      if (!hasErrno(error, 'ENOTEMPTY', 'EEXIST')) throw error;
    }
    for (const entry of await readdir(real, { withFileTypes: true })) {
      const child = posix.join(real, entry.name);
      if (!(await this.hiddenFromListings(entry, child))) continue;
      try {
        await unlink(child);
      } catch (error) {
        if (!hasErrno(error, 'ENOENT')) throw error; // gone already: a writer committed or aborted
      }
    }
    await rmdir(real);
  }

  /* ------------------------------------------------------------------ */

  /** Opens for reading and returns the size of exactly the opened version. */
  private async openForRead(at: Located, etag: string | undefined): Promise<{ handle: FileHandle; size: number }> {
    let handle: FileHandle;
    try {
      handle = await open(at.real, 'r');
    } catch (error) {
      throw fromErrno(error, at.path, PROTOCOL);
    }
    try {
      // Stat the open handle, not the path: the bytes we read belong to exactly this inode.
      const stats = await handle.stat();
      if (stats.isDirectory()) throw new IsADirectoryError({ path: at.path, protocol: PROTOCOL });
      if (etag !== undefined && localEtag(stats) !== etag) throw new ConflictError({ path: at.path, protocol: PROTOCOL });
      return { handle, size: stats.size };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw fromErrno(error, at.path, PROTOCOL);
    }
  }

  /** Creates the target's missing parent directories, like fsspec's auto_mkdir and object stores. */
  private async makeParents(at: Located): Promise<void> {
    try {
      await mkdir(posix.dirname(at.real), { recursive: true });
    } catch (error) {
      // mkdir -p reports a file in the way as EEXIST or ENOTDIR.
      if (hasErrno(error, 'EEXIST', 'ENOTDIR')) throw new NotADirectoryError({ path: at.path, protocol: PROTOCOL, cause: error });
      throw fromErrno(error, at.path, PROTOCOL);
    }
  }

  private rootReal(): Promise<string> {
    if (this.root === undefined) return Promise.resolve('/');
    const root = this.root;
    this.realRoot ??= realpath(root).catch((error: unknown) => {
      this.realRoot = undefined;
      if (hasErrno(error, 'ENOENT')) {
        throw new NotFoundError({ path: '/', protocol: PROTOCOL, cause: error }, `Root directory does not exist: ${root}`);
      }
      throw fromErrno(error, '/', PROTOCOL);
    });
    return this.realRoot;
  }

  /**
   * Maps a normalised path to its on-disk location. Under a root, resolves the symlinks of the
   * deepest existing ancestor (or of the path itself with `follow: 'all'`) and refuses any path
   * whose real location leaves the root. A dangling symlink on the way is judged by its target.
   */
  private async locate(path: string, follow: Follow): Promise<Located> {
    if (this.root === undefined && isNormalPosixPath(path)) return { real: path, path }; // the common case
    if (path.includes('\0')) throw new InvalidPathError({ path: path.replaceAll('\0', '\\0'), protocol: PROTOCOL }, 'Path contains a NUL byte');
    const segments = path.split('/').filter((segment) => segment !== '');
    if (segments.some((segment) => segment === '..' || segment === '.')) {
      throw new InvalidPathError({ path, protocol: PROTOCOL }, `Path must be normalised (no "." or ".."): ${PROTOCOL}://${path}`);
    }
    const shown = `/${segments.join('/')}`;
    if (this.root === undefined) return { real: shown, path: shown };

    const root = await this.rootReal();
    const real = posix.join(root, ...segments);
    const refuse = (): never => {
      throw new PermissionDeniedError({ path: shown, protocol: PROTOCOL }, `Path escapes the filesystem root: ${PROTOCOL}://${shown}`);
    };
    let candidate = follow === 'all' || real === root ? real : posix.dirname(real);
    for (;;) {
      const resolved = await realpath(candidate).catch((error: unknown) => {
        if (hasErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
        throw fromErrno(error, shown, PROTOCOL);
      });
      if (resolved !== undefined) {
        if (!isInside(resolved, root)) refuse();
        return { real, path: shown };
      }
      // The candidate does not resolve. If it is a dangling symlink, its target must stay inside too.
      const link = await lstat(candidate).catch(() => undefined);
      if (link?.isSymbolicLink() && !(await this.symlinkStaysInside(candidate).catch(() => false))) refuse();
      if (candidate === root) return { real, path: shown };
      candidate = posix.dirname(candidate);
    }
  }

  /** What listings leave out: writers' temp files, and under a root, links whose target leaves it. */
  private async hiddenFromListings(entry: Dirent, real: string): Promise<boolean> {
    if (entry.isFile()) return isLocalTempFile(entry.name);
    return entry.isSymbolicLink() && !(await this.symlinkStaysInside(real));
  }

  /** Whether following the symlink at `real` (recursively, even if dangling) stays under the root. */
  private async symlinkStaysInside(real: string): Promise<boolean> {
    if (this.root === undefined) return true;
    const root = await this.rootReal();
    try {
      return isInside(await realpath(real), root);
    } catch (error) {
      if (!hasErrno(error, 'ENOENT', 'ENOTDIR', 'ELOOP')) throw error;
    }
    // Dangling: judge the link text, resolved against the real location of the link's directory.
    const target = await readlink(real);
    const parent = await realpath(posix.dirname(real)).catch(() => posix.dirname(real));
    return isInside(posix.resolve(parent, target), root);
  }
}

function isInside(candidate: string, root: string): boolean {
  return root === '/' || candidate === root || candidate.startsWith(`${root}/`);
}

function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function toInfo(name: string, stats: Stats, islink = false): FileInfo {
  const info: FileInfo = stats.isDirectory()
    ? { name, type: 'directory', size: 0, mtime: stats.mtime }
    : { name, type: 'file', size: stats.size, mtime: stats.mtime, etag: localEtag(stats) };
  if (islink) info.islink = true;
  return info;
}

type WriterState = 'open' | 'committing' | 'committed' | 'aborted' | 'failed';

class LocalWriter implements AdapterWriter {
  private state: WriterState = 'open';

  constructor(
    private readonly at: Located,
    private readonly temp: string,
    private readonly handle: FileHandle,
    private readonly mode: WriteMode,
  ) {}

  async write(chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal, { path: this.at.path, protocol: PROTOCOL });
    this.assertOpen();
    try {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
    } catch (error) {
      await this.discard('failed');
      throw fromErrno(error, this.at.path, PROTOCOL);
    }
  }

  async patch(position: number, chunk: Uint8Array, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal, { path: this.at.path, protocol: PROTOCOL });
    this.assertOpen();
    try {
      // Positional writes leave the append position where it is.
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, position + offset);
        offset += bytesWritten;
      }
    } catch (error) {
      await this.discard('failed');
      throw fromErrno(error, this.at.path, PROTOCOL);
    }
  }

  async commit(signal?: AbortSignal): Promise<void> {
    this.assertOpen();
    if (signal?.aborted) {
      await this.discard('aborted');
      throwIfAborted(signal, { path: this.at.path, protocol: PROTOCOL });
    }
    this.state = 'committing';
    const target = this.at.real;
    try {
      await this.handle.sync();
      await this.handle.close();
      if (this.mode === 'overwrite') {
        await rename(this.temp, target);
      } else {
        await this.linkExclusive(target);
      }
      await fsyncDirectory(posix.dirname(target));
      this.state = 'committed';
    } catch (error) {
      await this.discard('failed');
      if (hasErrno(error, 'EEXIST')) throw new AlreadyExistsError({ path: this.at.path, protocol: PROTOCOL, cause: error });
      if (hasErrno(error, 'EISDIR')) throw new IsADirectoryError({ path: this.at.path, protocol: PROTOCOL, cause: error });
      throw fromErrno(error, this.at.path, PROTOCOL);
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'open') await this.discard('aborted');
  }

  /** link() fails with EEXIST atomically, so 'create' never overwrites, with no check-then-write window. */
  private async linkExclusive(target: string): Promise<void> {
    try {
      await link(this.temp, target);
    } catch (error) {
      if (!hasErrno(error, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS')) throw error;
      // No hard links on this filesystem (FAT, some FUSE mounts): reserve the name with O_EXCL,
      // then rename over the reservation. Still exclusive; an empty file is briefly visible.
      const reservation = await open(target, 'wx');
      await reservation.close();
      await rename(this.temp, target);
      return;
    }
    await unlink(this.temp);
  }

  private async discard(state: WriterState): Promise<void> {
    this.state = state;
    await this.handle.close().catch(() => undefined);
    await unlinkQuietly(this.temp);
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw new StorageError({ path: this.at.path, protocol: PROTOCOL }, `Writer is ${this.state}: ${PROTOCOL}://${this.at.path}`);
    }
  }
}
