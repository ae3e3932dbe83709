import { DataLoader, type Dataset } from '../data.js';
import { DataModule } from '../datamodule.js';
import { Rng } from '../rng.js';
import { f32Values, tensorF32, type F32Tensor } from '../tensor.js';

export interface ClassificationBatch {
  /** Row-major [size, features]. */
  x: Float32Array;
  y: Int32Array;
  size: number;
  /** Dataset indices of the rows, in order (handy to check the data order). */
  indices: Uint32Array;
}

export interface RegressionBatch {
  x: Float32Array;
  y: Float32Array;
  size: number;
  indices: Uint32Array;
}

export interface ClassificationData {
  x: Float32Array;
  y: Int32Array;
  features: number;
  classes: number;
  length: number;
}

/** Gaussian blobs: one random centre per class, points scattered around it. Deterministic in `seed`. */
export function makeClassificationData(options: { samples: number; features: number; classes: number; spread?: number; seed?: number }): ClassificationData {
  const { samples, features, classes } = options;
  const rng = new Rng(options.seed ?? 0);
  const spread = options.spread ?? 1;
  const centres = Float32Array.from({ length: classes * features }, () => rng.normal(0, 2));
  const x = new Float32Array(samples * features);
  const y = new Int32Array(samples);
  for (let i = 0; i < samples; i++) {
    const label = rng.int(classes);
    y[i] = label;
    for (let f = 0; f < features; f++) x[i * features + f] = centres[label * features + f]! + rng.normal(0, spread);
  }
  return { x, y, features, classes, length: samples };
}

/** y = x·Wᵀ + b + noise with a random true W and b. */
export function makeRegressionData(options: { samples: number; features: number; outputs?: number; noise?: number; seed?: number }): {
  x: Float32Array;
  y: Float32Array;
  features: number;
  outputs: number;
  length: number;
  trueWeight: Float32Array;
  trueBias: Float32Array;
} {
  const { samples, features } = options;
  const outputs = options.outputs ?? 1;
  const rng = new Rng(options.seed ?? 0);
  const trueWeight = Float32Array.from({ length: outputs * features }, () => rng.normal());
  const trueBias = Float32Array.from({ length: outputs }, () => rng.normal());
  const x = Float32Array.from({ length: samples * features }, () => rng.normal());
  const y = new Float32Array(samples * outputs);
  for (let i = 0; i < samples; i++) {
    for (let o = 0; o < outputs; o++) {
      let v = trueBias[o]!;
      for (let f = 0; f < features; f++) v += x[i * features + f]! * trueWeight[o * features + f]!;
      y[i * outputs + o] = v + rng.normal(0, options.noise ?? 0.01);
    }
  }
  return { x, y, features, outputs, length: samples, trueWeight, trueBias };
}

/** Rows of a row-major matrix as a Dataset of row indices. */
function rowDataset(length: number): Dataset<number> {
  return { length, get: (i) => i };
}

/** A DataLoader over regression data whose batches copy the selected rows. */
export function regressionLoader(
  data: { x: Float32Array; y: Float32Array; features: number; outputs: number; length: number },
  options: { batchSize: number; shuffle?: boolean; seed?: number },
): DataLoader<number, RegressionBatch> {
  return new DataLoader(rowDataset(data.length), {
    ...options,
    collate: (_rows, indices) => {
      const x = new Float32Array(indices.length * data.features);
      const y = new Float32Array(indices.length * data.outputs);
      indices.forEach((row, r) => {
        x.set(data.x.subarray(row * data.features, (row + 1) * data.features), r * data.features);
        y.set(data.y.subarray(row * data.outputs, (row + 1) * data.outputs), r * data.outputs);
      });
      return { x, y, size: indices.length, indices };
    },
  });
}

export interface ClassificationDataModuleOptions {
  samples?: number;
  features?: number;
  classes?: number;
  batchSize?: number;
  /** Fraction of samples held out for validation (default 0.2). */
  valFraction?: number;
  /** Spread of each class around its centre (default 1); larger overlaps the classes more. */
  spread?: number;
  /** Seed of the generated data set (the data order comes from the trainer's seed). */
  dataSeed?: number;
}

/**
 * Generated classification data, standardised with statistics of the training split. Those
 * statistics are the datamodule's state: a resumed run normalises exactly as the original did.
 */
export class ClassificationDataModule extends DataModule<ClassificationBatch> {
  readonly options: Required<ClassificationDataModuleOptions>;
  mean: F32Tensor | undefined;
  std: F32Tensor | undefined;
  /** How many times statistics were computed rather than restored (for tests and logs). */
  statisticsComputed = 0;
  private data: ClassificationData | undefined;
  private trainRows: Uint32Array = new Uint32Array();
  private valRows: Uint32Array = new Uint32Array();

  constructor(options: ClassificationDataModuleOptions = {}) {
    super();
    this.options = {
      samples: options.samples ?? 1024,
      features: options.features ?? 16,
      classes: options.classes ?? 4,
      batchSize: options.batchSize ?? 32,
      valFraction: options.valFraction ?? 0.2,
      spread: options.spread ?? 1,
      dataSeed: options.dataSeed ?? 1234,
    };
    this.saveHyperparameters({ ...this.options });
  }

  override setup(): void {
    const { samples, features, classes, valFraction, spread, dataSeed } = this.options;
    this.data = makeClassificationData({ samples, features, classes, spread, seed: dataSeed });
    const valCount = Math.floor(samples * valFraction);
    this.valRows = Uint32Array.from({ length: valCount }, (_, i) => i);
    this.trainRows = Uint32Array.from({ length: samples - valCount }, (_, i) => valCount + i);
  }

  /** Standardisation statistics of the training split, computed once unless restored. */
  private ensureStatistics(): void {
    if (this.mean && this.std) return;
    const data = this.requireData();
    const f = data.features;
    const mean = new Float64Array(f);
    const sq = new Float64Array(f);
    for (const row of this.trainRows) {
      for (let j = 0; j < f; j++) {
        const v = data.x[row * f + j]!;
        mean[j]! += v;
        sq[j]! += v * v;
      }
    }
    const n = this.trainRows.length;
    this.mean = tensorF32([f], mean.map((s) => s / n));
    this.std = tensorF32([f], sq.map((s, j) => Math.sqrt(Math.max(s / n - (mean[j]! / n) ** 2, 1e-12))));
    this.statisticsComputed += 1;
  }

  override trainDataloader(): DataLoader<number, ClassificationBatch> {
    return this.loader(this.trainRows, true);
  }

  override valDataloader(): DataLoader<number, ClassificationBatch> {
    return this.loader(this.valRows, false);
  }

  override stateDict(): Record<string, unknown> {
    this.ensureStatistics();
    return { mean: this.mean, std: this.std };
  }

  override loadStateDict(state: Record<string, unknown>): void {
    this.mean = tensorF32((state.mean as F32Tensor).shape, f32Values(state.mean as F32Tensor, 'mean').slice());
    this.std = tensorF32((state.std as F32Tensor).shape, f32Values(state.std as F32Tensor, 'std').slice());
  }

  private requireData(): ClassificationData {
    if (!this.data) throw new Error('ClassificationDataModule: call setup() first (the Trainer does)');
    return this.data;
  }

  private loader(rows: Uint32Array, shuffle: boolean): DataLoader<number, ClassificationBatch> {
    const data = this.requireData();
    const f = data.features;
    // The Trainer asks for loaders after restoring a checkpoint, so these are the restored statistics.
    this.ensureStatistics();
    const mean = this.mean!.data;
    const std = this.std!.data;
    return new DataLoader(rowDataset(rows.length), {
      batchSize: this.options.batchSize,
      shuffle,
      collate: (_items, positions) => {
        const indices = positions.map((p) => rows[p]!);
        const x = new Float32Array(indices.length * f);
        const y = new Int32Array(indices.length);
        indices.forEach((row, r) => {
          for (let j = 0; j < f; j++) x[r * f + j] = (data.x[row * f + j]! - mean[j]!) / std[j]!;
          y[r] = data.y[row]!;
        });
        return { x, y, size: indices.length, indices };
      },
    });
  }
}
