import { resolve as resolveLocal } from 'node:path';
import { optionsFor, splitProtocol, urlToFs, type FileSystem, type StorageOptions } from '@strata/fs-core';

const LOCAL_PROTOCOLS = new Set(['file', 'local']);

/** True for local paths and file:// URLs. */
export function isLocalUrl(url: string): boolean {
  const split = splitProtocol(url);
  return !split || LOCAL_PROTOCOLS.has(split.protocol);
}

/** Whether these storage options confine local paths to a `file` root, where a relative path starts at `/`. */
export function hasLocalRoot(storageOptions: StorageOptions | undefined): boolean {
  return typeof (optionsFor('file', storageOptions) as { root?: unknown }).root === 'string';
}

/**
 * One spelling per location, so URLs can be compared: local paths become absolute paths,
 * other URLs `protocol://a/b` with no duplicate, leading or trailing slashes. A relative local path
 * is read as fs-core reads it (no percent-decoding): from the working directory, or with a `file`
 * root (`localRoot`) from the root's top.
 */
export function normalizeUrl(url: string, localRoot = false): string {
  const split = splitProtocol(url);
  if (!split || LOCAL_PROTOCOLS.has(split.protocol)) {
    const local = split ? split.rest : url;
    return localRoot ? resolveLocal('/', local) : resolveLocal(local);
  }
  const rest = split.rest.split('/').filter((s) => s !== '' && s !== '.').join('/');
  return `${split.protocol}://${rest}`;
}

export function joinUrl(base: string, ...parts: string[]): string {
  let out = normalizeUrl(base);
  for (const part of parts) {
    const clean = part.replace(/^\/+|\/+$/g, '');
    if (clean) out = out.endsWith('/') ? `${out}${clean}` : `${out}/${clean}`;
  }
  return out;
}

export function dirnameUrl(url: string): string {
  const n = normalizeUrl(url);
  const split = splitProtocol(n);
  const slash = n.lastIndexOf('/');
  if (split && slash < split.protocol.length + 3) return n;
  return slash <= 0 ? '/' : n.slice(0, slash);
}

export function basenameUrl(url: string): string {
  const n = normalizeUrl(url);
  return n.slice(n.lastIndexOf('/') + 1);
}

/** Whether `child` lies strictly below directory `dir`. */
export function isWithin(dir: string, child: string): boolean {
  const d = normalizeUrl(dir);
  const c = normalizeUrl(child);
  const prefix = d.endsWith('/') ? d : `${d}/`;
  return c.startsWith(prefix) && c.length > prefix.length;
}

export function sameUrl(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && normalizeUrl(a) === normalizeUrl(b);
}

/**
 * Turns a name from `fs.ls`/`fs.find` back into a URL spelled as the user wrote `likeUrl`: same
 * protocol, and an account host kept (`abfs://c@acct.dfs.core.windows.net/…`, where listings name
 * the container alone), so the URL compares equal to the ones ModelCheckpoint builds.
 */
export function entryToUrl(likeUrl: string, name: string): string {
  const split = splitProtocol(normalizeUrl(likeUrl));
  if (!split) return name;
  const rest = name.replace(/^\/+/, '');
  const bucket = split.rest.split('/', 1)[0]!;
  const at = bucket.indexOf('@');
  if (at > 0 && rest.startsWith(`${bucket.slice(0, at)}/`)) return `${split.protocol}://${bucket}${rest.slice(at)}`;
  return `${split.protocol}://${rest}`;
}

/**
 * One FileSystem per protocol for the life of a run; fs-core methods take full URLs of their own
 * protocol, so callers pass normalised URLs (or absolute local paths) straight through.
 */
export class FileSystems {
  private readonly cache = new Map<string, Promise<FileSystem>>();

  constructor(private readonly storageOptions: StorageOptions | undefined) {}

  async get(url: string): Promise<{ fs: FileSystem; path: string }> {
    const normalized = normalizeUrl(url);
    const protocol = splitProtocol(normalized)?.protocol ?? 'file';
    let pending = this.cache.get(protocol);
    if (!pending) {
      pending = urlToFs(normalized, this.storageOptions).then((r) => r.fs);
      this.cache.set(protocol, pending);
      pending.catch(() => this.cache.delete(protocol));
    }
    return { fs: await pending, path: normalized };
  }

  async closeAll(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
  }
}
