import { urlToFs, type FileSystem, type StorageOptions } from '@strata/fs-core';

export interface StorageCallOptions {
  /** Options for the URL's protocol, keyed by protocol or flat (see fs-core `urlToFs`). */
  storageOptions?: StorageOptions | undefined;
  /** Use this filesystem instead of resolving one from the URL; the URL is then a path on it. */
  fs?: FileSystem | undefined;
  signal?: AbortSignal | undefined;
}

export interface ResolvedStorage {
  fs: FileSystem;
  path: string;
  /** Hook for releasing per-call resources; filesystems from `urlToFs` are shared and stay open. */
  release(): Promise<void>;
}

export async function resolveStorage(url: string, options: StorageCallOptions): Promise<ResolvedStorage> {
  if (options.fs) return { fs: options.fs, path: url, release: async () => undefined };
  // fs-core caches cloud filesystems per protocol and options: keep them open so the next
  // save or load reuses the client and its connections.
  const { fs, path } = await urlToFs(url, options.storageOptions);
  return { fs, path, release: async () => undefined };
}

/** Runs `fn` with the resolved filesystem and releases it afterwards, whatever happens. */
export async function withStorage<T>(url: string, options: StorageCallOptions, fn: (storage: ResolvedStorage) => Promise<T>): Promise<T> {
  const storage = await resolveStorage(url, options);
  try {
    return await fn(storage);
  } finally {
    await storage.release().catch(() => undefined);
  }
}

/** The parent directory of a path, or undefined at the top. */
export function parentOf(path: string): string | undefined {
  const trimmed = path.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  if (slash <= 0) return slash === 0 ? '/' : undefined;
  return trimmed.slice(0, slash);
}
