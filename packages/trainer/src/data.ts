import { mixSeed, Rng } from './rng.js';

export interface Dataset<T> {
  readonly length: number;
  get(index: number): T;
}

/**
 * What the trainer accepts as a data loader: any (async) iterable of batches. The optional
 * members let it resume mid-epoch without replaying batches and show totals.
 */
export interface DataLoaderLike<B> {
  [Symbol.iterator]?(): Iterator<B>;
  [Symbol.asyncIterator]?(): AsyncIterator<B>;
  /** Batches per epoch, if known. */
  readonly length?: number;
  /** Called before every epoch; `seed` is the trainer's. Deterministic shuffles derive from both. */
  setEpoch?(epoch: number, seed: number): void;
  /** Batches of the current epoch starting at `startBatch`, skipping the earlier ones cheaply. */
  batches?(startBatch: number): Iterable<B> | AsyncIterable<B>;
}

export type Loader<B> = DataLoaderLike<B> | Iterable<B> | AsyncIterable<B>;

export interface DataLoaderOptions<T, B> {
  batchSize?: number;
  shuffle?: boolean;
  dropLast?: boolean;
  /** Shuffle seed; when omitted the trainer's `seed` is used. */
  seed?: number;
  /** Builds a batch from items; receives the dataset indices too. Default: the array of items. */
  collate?: (items: T[], indices: Uint32Array) => B;
}

/**
 * Batches a dataset. With `shuffle`, the order of epoch e is a permutation drawn from
 * `seed` and `e` alone, so resuming at any batch of any epoch reproduces the order exactly.
 */
export class DataLoader<T, B = T[]> implements DataLoaderLike<B> {
  readonly dataset: Dataset<T>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private readonly fixedSeed: number | undefined;
  private readonly collate: (items: T[], indices: Uint32Array) => B;
  private epoch = 0;
  private seed = 0;

  constructor(dataset: Dataset<T> | readonly T[], options: DataLoaderOptions<T, B> = {}) {
    this.dataset = Array.isArray(dataset) ? arrayDataset(dataset as readonly T[]) : (dataset as Dataset<T>);
    this.batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize <= 0) throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    this.fixedSeed = options.seed;
    this.collate = options.collate ?? ((items) => items as unknown as B);
  }

  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  setEpoch(epoch: number, seed: number): void {
    this.epoch = epoch;
    this.seed = this.fixedSeed ?? seed;
  }

  /** The dataset indices of the current epoch, in order. */
  order(): Uint32Array {
    const n = this.dataset.length;
    if (!this.shuffle) {
      const identity = new Uint32Array(n);
      for (let i = 0; i < n; i++) identity[i] = i;
      return identity;
    }
    return new Rng(mixSeed(this.seed, this.epoch)).permutation(n);
  }

  *batches(startBatch = 0): Generator<B> {
    const order = this.order();
    for (let b = startBatch; b < this.length; b++) {
      const indices = order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
      const items = Array.from(indices, (i) => this.dataset.get(i));
      yield this.collate(items, indices.slice());
    }
  }

  [Symbol.iterator](): Iterator<B> {
    return this.batches(0);
  }
}

export function arrayDataset<T>(items: readonly T[]): Dataset<T> {
  return {
    get length() {
      return items.length;
    },
    get(index: number): T {
      if (index < 0 || index >= items.length) throw new RangeError(`Index ${index} out of range for a dataset of ${items.length}`);
      return items[index]!;
    },
  };
}
