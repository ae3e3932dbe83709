import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pLimit from 'p-limit';
import { expect } from 'vitest';

import { FsError } from '../errors.js';
import type { Capabilities, FileSystem } from '../types.js';

export interface FileSystemUnderTest {
  fs: FileSystem;
  /** A fresh, empty path (no protocol) under which every test works, e.g. `bucket/run-1a2b` or a temp dir. */
  base: string;
  /** Runs once after the whole suite, e.g. to delete `base` and close clients. */
  teardown?: (() => Promise<void>) | undefined;
  /**
   * Object stores: stores `data` at `path` (`bucket/key`) exactly as given, trailing and doubled
   * slashes kept, with the store's own SDK, as other tools do: `dir/` is a directory marker, `a//b`
   * a key no normalised path names. Resolves false if the store refuses such a key. Without it the
   * cases about such objects are skipped (on stores with real directories, `dir/` is made with mkdir).
   */
  rawPut?: ((path: string, data: Uint8Array) => Promise<boolean | void>) | undefined;
}

export interface DescribeFileSystemOptions {
  /** Overrides the capabilities the filesystem reports, e.g. to skip what an emulator lacks. */
  capabilities?: Partial<Capabilities> | undefined;
  /** The backend talks to a server (per-request latency): every test gets a longer timeout. */
  slow?: boolean | undefined;
  /** Per-test timeout in ms, overriding `slow` (fault-injection runs retry a lot). */
  timeoutMs?: number | undefined;
  /**
   * What `WriteHandle.patch` offers on this backend: changes `'anywhere'` before commit, only in the
   * `'first-part'` an object store holds back, or `'none'` (bytes go out in order). The patch cases
   * then check it; left out, they take what the handle offers and report a skip where it offers nothing.
   */
  patch?: 'anywhere' | 'first-part' | 'none' | undefined;
}

export type CapabilityName = keyof Capabilities;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const utf8 = (text: string): Uint8Array => encoder.encode(text);
export const text = (bytes: Uint8Array): string => decoder.decode(bytes);

/** Deterministic pseudo-random bytes, so two payloads of one size still differ everywhere. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Compares bytes without printing megabytes on failure. */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what = 'content'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const firstDifference = actual.findIndex((byte, i) => byte !== expected[i]);
  expect(firstDifference, `${what}: first differing byte`).toBe(-1);
}

/** Awaits a promise that must reject with an FsError of `type`; returns the error for more checks. */
export async function expectFsError<E extends FsError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  what = 'operation',
): Promise<E> {
  let outcome: unknown;
  try {
    const value = await promise;
    outcome = { resolved: value };
  } catch (error) {
    outcome = error;
  }
  expect(outcome, `${what}: expected ${type.name}`).toBeInstanceOf(type);
  expect(outcome).toBeInstanceOf(FsError);
  return outcome as E;
}

/** Progress reports: bytesDone never decreases or exceeds bytesTotal and ends at `expectedTotal`. */
export function expectSaneProgress(calls: Array<[number, number]>, expectedTotal: number): void {
  expect(calls.length, 'onProgress was called').toBeGreaterThan(0);
  let previous = 0;
  for (const [done, total] of calls) {
    expect(Number.isFinite(done) && Number.isFinite(total)).toBe(true);
    expect(done).toBeGreaterThanOrEqual(previous);
    expect(done).toBeLessThanOrEqual(total);
    previous = done;
  }
  expect(calls.at(-1)).toEqual([expectedTotal, expectedTotal]);
}

/**
 * What each test sees: the filesystem, its capabilities, and a fresh directory below `base`
 * (`dir`) that no other test touches.
 */
export class Harness {
  private current: FileSystemUnderTest | undefined;
  private testDir: string | undefined;
  private counter = 0;
  private readonly localDirs: string[] = [];

  constructor(private readonly options: DescribeFileSystemOptions) {}

  get fs(): FileSystem {
    if (!this.current) throw new Error('describeFileSystem: setup() has not run (or failed)');
    return this.current.fs;
  }

  get base(): string {
    if (!this.current) throw new Error('describeFileSystem: setup() has not run (or failed)');
    return this.current.base.replace(/\/+$/, '');
  }

  get declaredPatch(): DescribeFileSystemOptions['patch'] {
    return this.options.patch;
  }

  get caps(): Capabilities {
    return { ...this.fs.capabilities, ...this.options.capabilities };
  }

  /** Fresh per test, below `base`; nothing is created until a test writes. */
  get dir(): string {
    if (this.testDir === undefined) throw new Error('describeFileSystem: no test is running');
    return this.testDir;
  }

  /** `dir` joined with a relative path. */
  path(relative = ''): string {
    return relative === '' ? this.dir : `${this.dir}/${relative}`;
  }

  /** Test timeout in ms, scaled for remote backends. */
  timeout(factor = 1): number {
    return (this.options.timeoutMs ?? (this.options.slow ? 120_000 : 30_000)) * factor;
  }

  async start(setup: () => Promise<FileSystemUnderTest>): Promise<void> {
    this.current = await setup();
  }

  async stop(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    await Promise.all(this.localDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
    await current?.teardown?.();
  }

  beginTest(): void {
    this.testDir = `${this.base}/t${++this.counter}`;
  }

  endTest(): void {
    this.testDir = undefined;
  }

  async write(relative: string, content: Uint8Array | string): Promise<string> {
    const path = this.path(relative);
    await this.fs.pipe(path, content);
    return path;
  }

  /** Writes many files concurrently (object stores are slow one by one). Returns their full paths. */
  async writeTree(files: Record<string, Uint8Array | string>, concurrency = 32): Promise<string[]> {
    const limit = pLimit(concurrency);
    return Promise.all(Object.entries(files).map(([relative, content]) => limit(() => this.write(relative, content))));
  }

  /**
   * Puts `content` at `relative` below `dir` past the FileSystem, as another tool would (see
   * FileSystemUnderTest.rawPut); a directory where directories are real and `relative` ends in '/'.
   * Skips the running case when the store cannot hold the key as given. Returns the full path.
   */
  async rawPut(relative: string, content: Uint8Array | string, skip: (reason: string) => never): Promise<string> {
    const path = this.path(relative);
    const rawPut = this.current?.rawPut;
    if (rawPut) {
      if ((await rawPut(path, typeof content === 'string' ? utf8(content) : content)) === false) skip(`the store refuses the key "${path}"`);
    } else if (this.caps.emptyDirectories && relative.endsWith('/') && content.length === 0) {
      await this.fs.mkdir(path);
    } else {
      skip('setup() gives no rawPut to store keys as other tools do');
    }
    return path;
  }

  async readText(path: string): Promise<string> {
    return text(await this.fs.cat(path));
  }

  /** A temp directory on the local disk (for put/get), removed after the suite. */
  async localTempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'strata-conformance-'));
    this.localDirs.push(dir);
    return dir;
  }
}

export interface CaseOptions {
  /** Capabilities the test needs; it is skipped (reason in its name) when one is missing. */
  needs?: CapabilityName[] | undefined;
  /** Capabilities whose ABSENCE the test checks; skipped when the backend has one. */
  without?: CapabilityName[] | undefined;
  /** Multiplies the default timeout. */
  timeoutFactor?: number | undefined;
}

/** `skip` marks the running case skipped, with the reason, and ends it. */
export type CaseBody = (test: { skip: (reason: string) => never }) => Promise<void>;
export type CaseRegistrar = (name: string, body: CaseBody, options?: CaseOptions) => void;
