import { AlreadyExistsError, InvalidPathError, ProtocolNotAvailableError } from './errors.js';
import { fromAdapter, type AdaptedFileSystem } from './facade.js';
import { checkBucketSegment, FILE_URI_SHORT_FORM, splitProtocol } from './paths.js';
import { knownImplementations, type KnownImplementation } from './known.js';
import type { FileSystem } from './types.js';

export { knownImplementations };

export type FileSystemFactory = (options: object) => FileSystem | Promise<FileSystem>;

/** Options keyed by protocol (`{ s3: {...}, gcs: {...} }`) or flat for the URL's protocol. */
export type StorageOptions = Record<string, unknown>;

/** Protocols that share one set of storage options. */
const ALIAS_GROUPS: readonly (readonly string[])[] = [
  ['file', 'local'],
  ['s3', 's3a'],
  ['gs', 'gcs'],
  ['az', 'abfs', 'abfss', 'azure'],
];

const builtins: Record<string, FileSystemFactory> = {
  file: async (options) => {
    const { LocalAdapter } = await import('./backends/local.js');
    return fromAdapter(new LocalAdapter(options), options);
  },
  local: (options) => builtins.file!(options),
  memory: async (options) => {
    const { MemoryAdapter } = await import('./backends/memory.js');
    return fromAdapter(new MemoryAdapter(options), options);
  },
};

const registered = new Map<string, FileSystemFactory>();

const PROTOCOL_NAME = /^[a-z][a-z0-9+.-]*$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function canonical(protocol: string): string {
  const p = protocol.toLowerCase();
  if (!PROTOCOL_NAME.test(p)) throw new InvalidPathError({}, `Invalid protocol name: "${protocol}"`);
  return p;
}

/** Plugs a protocol in by name. Replacing one needs `clobber: true`. */
export function registerImplementation(protocol: string, factory: FileSystemFactory, opts: { clobber?: boolean } = {}): void {
  const p = canonical(protocol);
  if (typeof factory !== 'function') throw new TypeError('registerImplementation needs a factory function');
  // A known lazy protocol (s3, gs, az...) counts as registered, as in fsspec's register_implementation.
  if (!opts.clobber && (registered.has(p) || Object.hasOwn(builtins, p) || Object.hasOwn(knownImplementations, p))) {
    throw new AlreadyExistsError({ protocol: p }, `Protocol "${p}" is already registered; pass { clobber: true } to replace it`);
  }
  registered.set(p, factory);
}

/** Every protocol that can be asked for: built in, registered or known-lazy. */
export function availableProtocols(): string[] {
  return [...new Set([...Object.keys(builtins), ...registered.keys(), ...Object.keys(knownImplementations)])].sort();
}

interface BackendModule {
  createFileSystem?: (options: object, protocol: string) => FileSystem | Promise<FileSystem>;
  /** Lets a backend read options out of its URLs (e.g. the account in `abfs://c@acct.dfs.core.windows.net/p`). */
  parseUrl?: (url: string) => { path: string; options?: object };
}

async function importBackend(protocol: string, spec: KnownImplementation): Promise<BackendModule> {
  try {
    return (await import(spec.module)) as BackendModule;
  } catch (error) {
    const code = (error as { code?: string }).code;
    // Node quotes the package it could not find; the backend's own path may appear in the message too.
    if (code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes(`'${spec.module}'`)) {
      throw new ProtocolNotAvailableError(
        `Protocol "${protocol}" needs the ${spec.module} package, which is not installed. Install it with: ${spec.hint}`,
        { protocol, cause: error },
      );
    }
    throw new ProtocolNotAvailableError(`Protocol "${protocol}": loading ${spec.module} failed: ${(error as Error).message}`, { protocol, cause: error });
  }
}

/** A filesystem instance for `protocol`. Cloud backends are imported on first use only. */
export async function filesystem(protocol: string, options: object = {}): Promise<FileSystem> {
  const p = canonical(protocol);
  assertSafeOptions(options, p);
  const factory = registered.get(p) ?? builtins[p];
  if (factory) return factory(options);
  const { skipInstanceCache, ...backendOptions } = options as { skipInstanceCache?: boolean };
  const key = skipInstanceCache ? undefined : cacheKey(p, backendOptions);
  if (key === undefined) return (await backendModule(p)).createFileSystem!(backendOptions, p);
  let pending = instanceCache.get(key);
  if (!pending) {
    pending = createShared(p, backendOptions, key);
    instanceCache.set(key, pending);
    pending.catch(() => instanceCache.delete(key));
  }
  return pending;
}

/**
 * Cloud filesystems are cached per protocol and options, as fsspec does, so repeated `urlToFs`
 * calls share one SDK client and its connection pool. `close()` on a shared instance evicts it;
 * pass `skipInstanceCache: true` for an instance of your own.
 */
const instanceCache = new Map<string, Promise<FileSystem>>();

async function createShared(p: string, options: object, key: string): Promise<FileSystem> {
  const fs = await (await backendModule(p)).createFileSystem!(options, p);
  const close = fs.close.bind(fs);
  fs.close = async () => {
    instanceCache.delete(key);
    await close();
  };
  return fs;
}

/** Drops every cached instance without closing it (tests that change the environment use this). */
export function clearInstanceCache(): void {
  instanceCache.clear();
}

/** A stable key for plain-data options; undefined (no caching) when they hold functions or class instances. */
function cacheKey(protocol: string, options: object): string | undefined {
  const plain = (value: unknown, depth: number): unknown => {
    if (value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value)) return value;
    if (depth > 8) throw new Error('too deep');
    if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1));
    if (isPlainObject(value)) {
      return Object.keys(value)
        .sort()
        .map((k) => [k, plain(value[k], depth + 1)]);
    }
    throw new Error('not plain');
  };
  // The SDKs also read credentials and endpoints from the environment: a change there is a new instance.
  const env = Object.entries(process.env)
    .filter(([k]) => /^(AWS_|AZURE_|GOOGLE_|GCLOUD_|GCE_|STORAGE_EMULATOR_HOST)/.test(k))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  try {
    return `${protocol}\0${JSON.stringify(plain(options, 0))}\0${JSON.stringify(env)}`;
  } catch {
    return undefined;
  }
}

async function backendModule(p: string): Promise<BackendModule> {
  const known = knownImplementations[p];
  if (!known) {
    throw new ProtocolNotAvailableError(`Unknown protocol "${p}". Known protocols: ${availableProtocols().join(', ')}`, { protocol: p });
  }
  const mod = await importBackend(p, known);
  if (typeof mod.createFileSystem !== 'function') {
    throw new ProtocolNotAvailableError(`${known.module} does not export createFileSystem()`, { protocol: p });
  }
  return mod;
}

/**
 * Picks the options for `protocol` from keyed or flat storage options. The two forms do not mix:
 * next to a protocol key, a flat key (say `root`) would be silently ignored, so that is an error.
 */
export function optionsFor(protocol: string, storageOptions: StorageOptions | undefined): object {
  if (!storageOptions) return {};
  assertSafeOptions(storageOptions, protocol);
  const group = ALIAS_GROUPS.find((g) => g.includes(protocol)) ?? [protocol];
  const keyedNames = new Set([...availableProtocols(), 'file', 'local', 'memory']);
  // A key set to undefined carries nothing, so it makes neither form.
  const keys = Object.keys(storageOptions).filter((k) => storageOptions[k] !== undefined);
  const keyed = keys.filter((k) => keyedNames.has(k) && isPlainObject(storageOptions[k]));
  if (keyed.length === 0) return storageOptions;
  const stray = keys.filter((k) => !keyed.includes(k));
  if (stray.length > 0) {
    // Key names only, never values: options hold credentials.
    throw new InvalidPathError(
      { protocol },
      `Storage options mix protocol keys (${keyed.join(', ')}) with flat keys (${stray.join(', ')}), which would be ignored. ` +
        `Put them under the protocol's key instead, e.g. { ${protocol}: { ${stray.join(', ')} } }`,
    );
  }
  for (const name of [protocol, ...group]) {
    if (Object.hasOwn(storageOptions, name) && isPlainObject(storageOptions[name])) return storageOptions[name];
  }
  return {};
}

/**
 * `s3://bucket/key` → the s3 filesystem and `bucket/key`. A plain path means the local disk.
 * Percent-escapes are kept as written: keys are opaque strings, as in fsspec.
 */
export async function urlToFs(url: string, storageOptions?: StorageOptions): Promise<{ fs: FileSystem; path: string }> {
  if (typeof url !== 'string' || url.length === 0) throw new InvalidPathError({}, 'URL must be a non-empty string');
  if (url.includes('::')) {
    throw new InvalidPathError({ path: url }, `Chained URLs ("a::b") are not supported yet: ${url}`);
  }
  const split = splitProtocol(url);
  if (!split) {
    // `s3:/b/k`, `s3:b/k` or `1x://y` are typos of URLs, not local paths; `./a:b` stays local.
    if (/^[^/]*:\/\//.test(url) || (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url) && !FILE_URI_SHORT_FORM.test(url))) {
      throw new InvalidPathError({ path: url }, `Malformed URL (expected "protocol://..."): ${url}`);
    }
    const fs = await filesystem('file', optionsFor('file', storageOptions));
    // The filesystem resolves a relative path: against the working directory, or under its root.
    return { fs, path: (fs as AdaptedFileSystem).normalize(url) };
  }
  const protocol = canonical(split.protocol);
  const options = optionsFor(protocol, storageOptions);
  if (!registered.has(protocol) && !builtins[protocol]) {
    // Every known backend is an object store: URL credentials are refused before a backend parses (and quotes) them.
    if (Object.hasOwn(knownImplementations, protocol)) checkBucketSegment(split.rest, protocol);
    const parsed = (await backendModule(protocol)).parseUrl?.(url);
    if (parsed) {
      const fs = await filesystem(protocol, { ...parsed.options, ...options });
      const normalize = (fs as Partial<AdaptedFileSystem>).normalize?.bind(fs);
      return { fs, path: normalize ? normalize(parsed.path) : parsed.path };
    }
  }
  const fs = await filesystem(protocol, options);
  // Normalise the part after the scheme: a factory may serve a protocol under another name.
  const path = (fs as Partial<AdaptedFileSystem>).normalize ? (fs as AdaptedFileSystem).normalize(split.rest) : split.rest;
  return { fs, path };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Refuses prototype-polluting keys anywhere in plain option objects (e.g. parsed from JSON). */
function assertSafeOptions(options: unknown, protocol: string, depth = 0): void {
  if (!isPlainObject(options) || depth > 8) return;
  for (const key of Object.keys(options)) {
    if (FORBIDDEN_KEYS.has(key)) {
      throw new InvalidPathError({ protocol }, `Storage options may not contain the key "${key}"`);
    }
    assertSafeOptions(options[key], protocol, depth + 1);
  }
}
