import { AbortError, NotFoundError } from '@strata/fs-core';

import { loadCheckpoint, type LoadOptions } from './load.js';
import { encodeCheckpoint, writeCheckpoint, type SaveOptions } from './save.js';
import { withStorage, type StorageCallOptions } from './storage.js';
import { elementsFromLittleEndian, type Tensor } from './tensor.js';
import { decodeTree } from './tree.js';

/** How a trainer saves, loads and removes checkpoints (after Lightning's CheckpointIO). */
export interface CheckpointIO {
  /**
   * Saves atomically. Await `options.beforeCommit` (when given) right before committing and abort if
   * it rejects: AsyncCheckpointIO orders commits through it, and an implementation that drops it
   * loses that ordering.
   */
  saveCheckpoint(checkpoint: object, url: string, options?: SaveOptions): Promise<void>;
  loadCheckpoint(url: string, options?: LoadOptions): Promise<Record<string, unknown>>;
  /** Removes the checkpoint at `url`; a missing one is not an error. */
  removeCheckpoint(url: string, options?: StorageCallOptions): Promise<void>;
  /** Finishes outstanding work and releases resources. */
  teardown(): Promise<void>;
}

export interface FsCheckpointIOOptions {
  /** Used for every call that does not pass its own. */
  storageOptions?: StorageCallOptions['storageOptions'];
  /** Use this filesystem for every call instead of resolving one per URL. */
  fs?: StorageCallOptions['fs'];
}

/** Snapshots made by AsyncCheckpointIO: their bytes are private shared memory, hashed on a worker thread. */
const privateSnapshots = new WeakSet<object>();

/** The default CheckpointIO: one safetensors file per checkpoint through fs-core. */
export class FsCheckpointIO implements CheckpointIO {
  constructor(private readonly defaults: FsCheckpointIOOptions = {}) {}

  private withDefaults<T extends StorageCallOptions>(options: T | undefined): T {
    return { storageOptions: this.defaults.storageOptions, fs: this.defaults.fs, ...(options ?? {}) } as T;
  }

  async saveCheckpoint(checkpoint: object, url: string, options?: SaveOptions): Promise<void> {
    const encoded = encodeCheckpoint(checkpoint);
    if (privateSnapshots.has(checkpoint)) encoded.owned = true;
    const opts = this.withDefaults(options);
    await withStorage(url, opts, ({ fs, path }) => writeCheckpoint(encoded, fs, path, opts));
  }

  loadCheckpoint(url: string, options?: LoadOptions): Promise<Record<string, unknown>> {
    return loadCheckpoint(url, this.withDefaults(options));
  }

  async removeCheckpoint(url: string, options?: StorageCallOptions): Promise<void> {
    const opts = this.withDefaults(options);
    await withStorage(url, opts, async ({ fs, path }) => {
      try {
        await fs.rm(path, { signal: opts.signal });
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
    });
  }

  async teardown(): Promise<void> {}
}

/**
 * A deep copy of a checkpoint exactly as saving and loading it would give back, with every tensor's
 * bytes copied. Throws UnstorableValueError like saveCheckpoint.
 */
export function snapshotCheckpoint(checkpoint: object, allocate?: (byteLength: number) => Uint8Array): Record<string, unknown> {
  const { tree, tensors } = encodeCheckpoint(checkpoint, { copy: true, allocate });
  const byName = new Map<string, Tensor>(tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, data: elementsFromLittleEndian(t.dtype, t.data as Uint8Array) }]));
  return decodeTree(tree, { header: (name) => byName.get(name), loaded: (name) => byName.get(name) });
}

/**
 * Snapshot buffers kept between saves. Fresh 100-MiB allocations cost page faults on every save;
 * reusing the previous snapshot's memory makes the copy on the training thread a plain memcpy.
 */
class SnapshotPool {
  private readonly free = new Map<number, Uint8Array[]>();
  private pooledBytes = 0;

  constructor(private readonly maxBytes: () => number) {}

  take(byteLength: number): Uint8Array {
    const list = this.free.get(byteLength);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= byteLength;
      return reused;
    }
    return new Uint8Array(new SharedArrayBuffer(byteLength));
  }

  give(buffers: Uint8Array[]): void {
    for (const b of buffers) {
      if (this.pooledBytes + b.byteLength > this.maxBytes()) return;
      let list = this.free.get(b.byteLength);
      if (!list) this.free.set(b.byteLength, (list = []));
      list.push(b);
      this.pooledBytes += b.byteLength;
    }
  }

  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }
}

export interface AsyncCheckpointIOOptions {
  /** Snapshots waiting or being written at once; a save beyond this waits for one to finish. Default 2. */
  maxPendingSaves?: number | undefined;
}

/**
 * Saves in the background. `saveCheckpoint` snapshots the checkpoint (copying tensor bytes) on the
 * calling thread, synchronously at the call, and returns once the save is queued (after waiting
 * while `maxPendingSaves` are pending); the write happens afterwards through the wrapped CheckpointIO. Saves
 * to the same URL run one after another, never at once; saves to different URLs upload at once but
 * commit in the order they were made, and never after an earlier one failed (so a `last.ckpt` can
 * never be on storage ahead of the top-k file its state names as best). `removeCheckpoint` is queued too: it runs
 * once every save queued before it has committed, so the checkpoint a newer one replaces is never
 * deleted before its successor is on storage (nor at all if that save failed). A failed background
 * save or removal is thrown by the next call (or by `flush`/`teardown`); loads of a URL wait for
 * its pending saves and removals.
 */
export class AsyncCheckpointIO implements CheckpointIO {
  /** The last queued save or removal of each URL; the next one of that URL runs after it. */
  private readonly tails = new Map<string, Promise<boolean>>();
  /** Saves not finished yet; each resolves to whether it committed. */
  private readonly running = new Set<Promise<boolean>>();
  private readonly removals = new Set<Promise<boolean>>();
  private errors: unknown[] = [];
  /** Settles once the save started last has committed (`{}`) or failed (`{ error }`). */
  private lastSave: Promise<{ error?: unknown }> = Promise.resolve({});
  private admission: Promise<void> = Promise.resolve();
  private readonly maxPendingSaves: number;
  private largestSnapshot = 0;
  private readonly pool = new SnapshotPool(() => this.largestSnapshot * this.maxPendingSaves);

  constructor(
    private readonly inner: CheckpointIO = new FsCheckpointIO(),
    options: AsyncCheckpointIOOptions = {},
  ) {
    this.maxPendingSaves = Math.max(1, options.maxPendingSaves ?? 2);
  }

  /** Number of saves not finished yet. */
  get pendingSaves(): number {
    return this.running.size;
  }

  async saveCheckpoint(checkpoint: object, url: string, options?: SaveOptions): Promise<void> {
    this.surfaceErrors();
    // Before any await: the snapshot is the state at the moment of the call.
    const buffers: Uint8Array[] = [];
    const snapshot = snapshotCheckpoint(checkpoint, (n) => {
      const buffer = this.pool.take(n);
      buffers.push(buffer);
      return buffer;
    });
    this.largestSnapshot = Math.max(this.largestSnapshot, buffers.reduce((sum, b) => sum + b.byteLength, 0));
    privateSnapshots.add(snapshot);
    // Admission is first come, first served, so the pending limit holds and saves keep call order.
    const admitted = this.admission.then(async () => {
      while (this.running.size >= this.maxPendingSaves) await Promise.race(this.running);
      this.start(snapshot, url, options, buffers);
    });
    this.admission = admitted.catch(() => undefined);
    await admitted;
  }

  private start(snapshot: object, url: string, options: SaveOptions | undefined, buffers: Uint8Array[]): void {
    const earlier = this.lastSave;
    const beforeCommit = async () => {
      const { error } = await earlier;
      if (error !== undefined) {
        throw new AbortError({ cause: error }, `Checkpoint ${url} was not committed: a save made before it failed, and this one must not land in its place`);
      }
      await options?.beforeCommit?.();
    };
    let failure: { error?: unknown } = {};
    const save = () =>
      this.inner.saveCheckpoint(snapshot, url, { ...options, beforeCommit }).catch((error: unknown) => {
        failure = { error };
        throw error;
      });
    const task = this.queue(url, this.running, save, () => this.pool.give(buffers));
    this.lastSave = task.then(() => failure);
    this.running.add(task);
  }

  /** Runs `work` after the URL's last queued task, in `set` until it settles; failures go to `errors`. */
  private queue(url: string, set: Set<Promise<boolean>>, work: () => Promise<void>, cleanup?: () => void): Promise<boolean> {
    const previous = this.tails.get(url) ?? Promise.resolve(true);
    const task: Promise<boolean> = previous
      .then(work)
      .then(
        () => true,
        (error: unknown) => {
          this.errors.push(error);
          return false;
        },
      )
      .finally(() => {
        cleanup?.();
        set.delete(task);
        if (this.tails.get(url) === task) this.tails.delete(url);
      });
    this.tails.set(url, task);
    return task;
  }

  async loadCheckpoint(url: string, options?: LoadOptions): Promise<Record<string, unknown>> {
    await this.settle(url);
    return this.inner.loadCheckpoint(url, options);
  }

  /**
   * Queues the removal and returns: training does not wait for the saves it must follow. It runs
   * once every save queued before it has committed, and not at all if one of them failed (that
   * failure is thrown by the next call, and the file stays as the last good checkpoint).
   */
  async removeCheckpoint(url: string, options?: StorageCallOptions): Promise<void> {
    this.surfaceErrors();
    await this.admission; // every earlier save call has been admitted, so `running` holds them
    const earlierSaves = [...this.running];
    const task = this.queue(url, this.removals, async () => {
      const committed = await Promise.all(earlierSaves);
      if (committed.every(Boolean)) await this.inner.removeCheckpoint(url, options);
    });
    this.removals.add(task);
  }

  /** Waits for every pending save and removal; throws if any of them failed. */
  async flush(): Promise<void> {
    for (;;) {
      await this.admission;
      if (this.running.size === 0 && this.removals.size === 0) break;
      await Promise.allSettled([...this.running, ...this.removals]);
    }
    this.surfaceErrors();
  }

  async teardown(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.pool.clear();
      await this.inner.teardown();
    }
  }

  private async settle(url: string): Promise<void> {
    this.surfaceErrors();
    await this.admission;
    const tail = this.tails.get(url);
    if (tail) await tail;
    this.surfaceErrors();
  }

  private surfaceErrors(): void {
    if (this.errors.length === 0) return;
    const errors = this.errors;
    this.errors = [];
    // The caller hears of the failure now: saves made after this start a new commit order.
    this.lastSave = Promise.resolve({});
    if (errors.length === 1) throw errors[0];
    throw new AggregateError(errors, `${errors.length} background checkpoint saves failed`);
  }
}
