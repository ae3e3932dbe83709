// Steps are synchronous work; the loops must still let I/O callbacks run between them, or
// AsyncCheckpointIO's background saves (and logger writes) would stall until training stops.
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';

import { describe, expect, it } from 'vitest';

import { Callback, DataLoader, Module, Trainer, arrayDataset, type OptimizerConfig } from '../src/index.js';
import { quietOptions } from './helpers.js';

/** Each step (training and validation) busy-waits `stepMs`, like a CPU forward and backward pass. */
class BusyModule extends Module<number> {
  override automaticOptimization = false;
  constructor(private readonly stepMs: number) {
    super();
  }
  private busy(): number {
    const until = performance.now() + this.stepMs;
    let spins = 0;
    while (performance.now() < until) spins++;
    return spins;
  }
  override trainingStep(): number {
    this.busy();
    return 0;
  }
  override validationStep(): void {
    this.busy();
  }
  override configureOptimizers(): OptimizerConfig {
    return null;
  }
}

/** Starts a file stat at a given step (training or validation) and records the step when it completes. */
class IoProbe extends Callback {
  trainStartedAt: number | undefined;
  trainDoneAt: number | undefined;
  validationStarted = false;
  validationDoneAtBatch: number | undefined;
  private validationBatches = 0;

  override onTrainBatchEnd(trainer: Trainer): void {
    if (trainer.globalStep !== 2) return;
    this.trainStartedAt = trainer.globalStep;
    void stat(tmpdir()).then(() => (this.trainDoneAt = trainer.globalStep));
  }

  override onValidationBatchEnd(): void {
    this.validationBatches++;
    if (this.validationStarted) return;
    this.validationStarted = true;
    const startedAt = this.validationBatches;
    void stat(tmpdir()).then(() => (this.validationDoneAtBatch = this.validationBatches - startedAt));
  }
}

const loader = (n: number) => new DataLoader(arrayDataset(Array.from({ length: n }, (_, i) => i)), { batchSize: 1, collate: (items: number[]) => items[0]! });

describe('the training and validation loops give I/O a turn between steps', () => {
  it('an I/O callback started during a step completes within a few steps, not after the loop', async () => {
    const probe = new IoProbe();
    const trainer = new Trainer(quietOptions('memory://event-loop-test', { maxSteps: 12, maxEpochs: 1, enableCheckpointing: false, callbacks: [probe] }));
    await trainer.fit(new BusyModule(10), { trainDataloaders: loader(12), valDataloaders: loader(12) });
    expect(probe.trainStartedAt).toBe(2);
    expect(probe.trainDoneAt).toBeDefined();
    expect(probe.trainDoneAt!).toBeLessThanOrEqual(5);
    expect(probe.validationDoneAtBatch).toBeDefined();
    expect(probe.validationDoneAtBatch!).toBeLessThanOrEqual(3);
  });
});
