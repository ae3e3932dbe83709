// Scenario 7: step time of a Trainer run while checkpoints are saved every N steps.
import { mkdir, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

import { AsyncCheckpointIO, FsCheckpointIO } from '@strata/checkpoint';
import { Callback, DataLoader, ModelCheckpoint, Module, Trainer, arrayDataset, tensorF32, type F32Tensor, type OptimizerConfig } from '@strata/trainer';

import { measurePhase } from '../lib/measure.js';
import { numberParam, stringParam, type Task } from './common.js';

const PARAMETER_TENSORS = 16;
const WORK_ELEMENTS = 1 << 16;

/**
 * A module with `checkpointBytes` of F32 parameters whose step is a fixed amount of CPU work
 * (the same for every contender) and a small in-place update, so every checkpoint differs.
 */
class BenchModule extends Module<number> {
  override automaticOptimization = false;
  private readonly params: F32Tensor[] = [];
  private readonly scratch = new Float32Array(WORK_ELEMENTS);

  constructor(
    checkpointBytes: number,
    private readonly passes: number,
  ) {
    super();
    const elements = Math.floor(checkpointBytes / 4 / PARAMETER_TENSORS);
    for (let i = 0; i < PARAMETER_TENSORS; i++) {
      const data = new Float32Array(elements);
      for (let k = 0; k < elements; k += 1024) data[k] = (i + 1) * 1e-3;
      this.params.push(this.registerParameter(`layer${i}.weight`, tensorF32([elements], data)));
    }
    for (let k = 0; k < WORK_ELEMENTS; k++) this.scratch[k] = (k % 97) * 1e-2;
  }

  override trainingStep(batch: number): number {
    let acc = 0;
    const s = this.scratch;
    for (let pass = 0; pass < this.passes; pass++) {
      for (let k = 0; k < s.length; k++) {
        s[k] = s[k]! * 0.999 + 1e-4;
        acc += s[k]!;
      }
    }
    const p = this.params[batch % this.params.length]!.data;
    for (let k = 0; k < 4096 && k < p.length; k++) p[k] = p[k]! + 1e-6;
    return acc / (s.length * this.passes);
  }

  override configureOptimizers(): OptimizerConfig {
    return null;
  }
}

class StepTimer extends Callback {
  readonly stepMs: number[] = [];
  private last = performance.now();

  override onTrainBatchStart(): void {
    if (this.stepMs.length === 0) this.last = performance.now();
  }

  override onTrainBatchEnd(): void {
    const now = performance.now();
    this.stepMs.push(now - this.last);
    this.last = now;
  }
}

const train: Task = async (params) => {
  const mode = stringParam(params, 'mode');
  const steps = numberParam(params, 'steps');
  const every = numberParam(params, 'every');
  const dir = `${stringParam(params, 'dir')}/${mode}-${process.pid}`;
  await mkdir(dir, { recursive: true });
  const module = new BenchModule(numberParam(params, 'checkpointBytes'), numberParam(params, 'passes'));
  const timer = new StepTimer();
  const callbacks: Callback[] = [timer];
  let checkpointIO;
  if (mode !== 'off') {
    checkpointIO = mode === 'async' ? new AsyncCheckpointIO(new FsCheckpointIO()) : new FsCheckpointIO();
    callbacks.push(new ModelCheckpoint({ dirpath: `${dir}/checkpoints`, everyNTrainSteps: every, saveTopK: 1 }));
  }
  const trainer = new Trainer({
    defaultRootDir: dir,
    maxSteps: steps,
    maxEpochs: 1,
    enableCheckpointing: mode !== 'off',
    checkpointIO,
    callbacks,
    logger: false,
    enableProgressBar: false,
    onWarning: () => undefined,
  });
  const loader = new DataLoader(arrayDataset(Array.from({ length: steps }, (_, i) => i)), { batchSize: 1, collate: (items: number[]) => items[0]! });
  try {
    const fit = await measurePhase('fit', async () => {
      await trainer.fit(module, { trainDataloaders: loader });
      return { items: steps };
    });
    if (timer.stepMs.length !== steps) throw new Error(`trainer ran ${timer.stepMs.length} steps, expected ${steps}`);
    const sorted = [...timer.stepMs].sort((a, b) => a - b);
    const stepTotal = timer.stepMs.reduce((a, b) => a + b, 0);
    // Step time: from the start of the first step to the end of the last, so checkpoint work done
    // between steps (synchronous saves, snapshots, background hashing and writes) counts, while the
    // flush of the last save after training (fit teardown) is reported separately as `fitMs`.
    const train = {
      ...fit,
      name: 'train',
      ms: stepTotal,
      extra: {
        ...fit.extra,
        meanStepMs: stepTotal / steps,
        p95StepMs: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!,
        checkpoints: mode === 'off' ? 0 : Math.floor(steps / every),
        fitMs: fit.ms,
      },
    };
    return { phases: [train] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

export const tasks: Record<string, Task> = { train };
