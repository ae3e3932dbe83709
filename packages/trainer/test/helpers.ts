import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Callback, ClassificationDataModule, MLPClassifier, Trainer, type ClassificationBatch, type Module, type StepResult, type TrainerOptions } from '../src/index.js';

/** A fresh root under the given protocol; `cleanup` removes local temp dirs. */
export async function freshRoot(kind: 'memory' | 'file'): Promise<{ root: string; cleanup: () => Promise<void> }> {
  if (kind === 'memory') return { root: `memory://trainer-tests/${randomUUID()}`, cleanup: async () => undefined };
  const dir = await mkdtemp(join(tmpdir(), 'strata-trainer-'));
  return { root: dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Records the dataset indices of every training batch, keyed by global step. */
export class DataOrderRecorder extends Callback {
  readonly order = new Map<number, number[]>();
  override onTrainBatchEnd(trainer: Trainer, _m: Module<any>, _o: StepResult, batch: unknown): void {
    this.order.set(trainer.globalStep, [...(batch as ClassificationBatch).indices]);
  }
}

export function quietOptions(root: string, extra: TrainerOptions = {}): TrainerOptions {
  return { defaultRootDir: root, enableProgressBar: false, logger: false, onWarning: () => undefined, ...extra };
}

export const smallData = { samples: 200, features: 8, classes: 3, batchSize: 16, valFraction: 0.2 } as const;

export function makeMlp(options: Partial<ConstructorParameters<typeof MLPClassifier>[0]> = {}): MLPClassifier {
  return new MLPClassifier({ inputSize: smallData.features, hiddenSize: 16, numClasses: smallData.classes, seed: 7, ...options });
}

export function makeDataModule(): ClassificationDataModule {
  return new ClassificationDataModule({ ...smallData });
}

/** Copies of a module's parameters. */
export function parameters(module: Module<any>): Record<string, Float32Array> {
  return Object.fromEntries(module.namedParameters().map(([k, t]) => [k, t.data.slice()]));
}

/** Bytes of every Float32Array/number leaf of an optimizer state, for bit-exact comparison. */
export function optimizerFingerprint(trainer: Trainer): unknown {
  return JSON.parse(
    JSON.stringify(trainer.optimizers.map((o) => o.stateDict()), (_k, v) =>
      v instanceof Float32Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v,
    ),
  );
}
