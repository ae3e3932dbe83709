import { describe, expect, it } from 'vitest';
import { AsyncCheckpointIO, FsCheckpointIO, loadCheckpoint, type CheckpointIO } from '@strata/checkpoint';
import { urlToFs } from '@strata/fs-core';
import { Callback, ClassificationDataModule, ModelCheckpoint, SGD, StepLR, Trainer, type CheckpointDict, type LRSchedulerConfig, type Logger, type MLPClassifier, type Module } from '../src/index.js';
import { listNames } from './checkpoint-cases.js';
import { freshRoot, makeDataModule, makeMlp, optimizerFingerprint, parameters, quietOptions, smallData } from './helpers.js';

/** Stops the fit once the global step reaches `step`, in the middle of an epoch. */
class StopAt extends Callback {
  constructor(private readonly step: number) {
    super();
  }
  override onTrainBatchEnd(trainer: Trainer): void {
    if (trainer.globalStep === this.step) trainer.shouldStop = true;
  }
}

class RecordingLogger implements Logger {
  readonly name = 'recording';
  readonly rows: string[] = [];
  logMetrics(metrics: Record<string, number>, step: number): void {
    this.rows.push(`${Object.keys(metrics).sort().join('+')}@${step}`);
  }
  async save(): Promise<void> {}
  async finalize(): Promise<void> {}
}

describe('a fit that stops in the middle of an epoch (10 batches per epoch)', () => {
  it('maxSteps: ModelCheckpoint saves there, as Lightning does, and resuming from it matches an uninterrupted run', async () => {
    const { root } = await freshRoot('memory');
    const uninterrupted = makeMlp();
    await new Trainer(quietOptions(`${root}/a`, { maxSteps: 8, enableCheckpointing: false })).fit(uninterrupted, { datamodule: makeDataModule() });

    const first = new Trainer(quietOptions(`${root}/b`, { maxSteps: 5 }));
    await first.fit(makeMlp(), { datamodule: makeDataModule() });
    expect(first.stoppedMidEpoch).toBe(true);
    expect(await listNames({ root: async () => root }, `${root}/b/checkpoints`)).toEqual(['epoch=0-step=5.ckpt']);

    const resumedModule = makeMlp();
    const resumed = new Trainer(quietOptions(`${root}/b`, { maxSteps: 8 }));
    await resumed.fit(resumedModule, { datamodule: makeDataModule(), ckptPath: `${root}/b/checkpoints/epoch=0-step=5.ckpt` });
    expect(resumed.globalStep).toBe(8);
    expect(parameters(resumedModule)).toEqual(parameters(uninterrupted));
  });

  it('shouldStop: the step values logged since the last flush reach the loggers', async () => {
    const { root } = await freshRoot('memory');
    const logger = new RecordingLogger();
    const trainer = new Trainer({ ...quietOptions(root, { maxEpochs: 3, callbacks: [new StopAt(5)], enableCheckpointing: false }), logger });
    await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
    expect(trainer.globalStep).toBe(5);
    // Step 5's values, at Lightning's logger step for the fifth batch (4).
    expect(logger.rows.some((row) => row.includes('train_loss') && row.endsWith('@4'))).toBe(true);
  });

  it('a fit that ends with its epoch writes no extra checkpoint', async () => {
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxSteps: 10 }));
    await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
    expect(trainer.stoppedMidEpoch).toBe(false);
    expect(await listNames({ root: async () => root }, `${root}/checkpoints`)).toEqual(['epoch=0-step=10.ckpt']);
  });
});

describe('limitValBatches: 0', () => {
  it('turns validation off, hooks included, so a monitor on a validation metric only warns', async () => {
    const { root } = await freshRoot('memory');
    const calls: string[] = [];
    const warnings: string[] = [];
    class ValHooks extends Callback {
      override onValidationStart(): void {
        calls.push('onValidationStart');
      }
    }
    const trainer = new Trainer(
      quietOptions(root, { maxEpochs: 1, limitValBatches: 0, callbacks: [new ValHooks(), new ModelCheckpoint({ monitor: 'val_loss' })], onWarning: (w) => warnings.push(w) }),
    );
    await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
    expect(trainer.status).toBe('finished');
    expect(calls).toEqual([]);
    expect(warnings.some((w) => w.includes("monitor: 'val_loss'"))).toBe(true);
  });
});

describe('a validation loader with no batches', () => {
  class ValHooks extends Callback {
    readonly calls: string[] = [];
    override onValidationStart(): void {
      this.calls.push('onValidationStart');
    }
  }

  it('of length 0 turns validation off, hooks included, and ModelCheckpoint saves at the epoch end', async () => {
    const { root } = await freshRoot('memory');
    const hooks = new ValHooks();
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [hooks, new ModelCheckpoint({ saveTopK: -1 })] }));
    await trainer.fit(makeMlp(), { datamodule: new ClassificationDataModule({ ...smallData, valFraction: 0 }) });
    expect(trainer.status).toBe('finished');
    expect(hooks.calls).toEqual([]);
    expect(await listNames({ root: async () => root }, `${root}/checkpoints`)).toEqual(['epoch=0-step=13.ckpt', 'epoch=1-step=26.ckpt']);
  });

  it('that yields nothing (no length) runs the hooks but no step, so a monitor on a validation metric only warns', async () => {
    const { root } = await freshRoot('memory');
    const hooks = new ValHooks();
    const warnings: string[] = [];
    const nothing: AsyncIterable<never> = { async *[Symbol.asyncIterator]() {} };
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [hooks, new ModelCheckpoint({ monitor: 'val_loss' })], onWarning: (w) => warnings.push(w) }));
    const data = makeDataModule();
    data.setup();
    await trainer.fit(makeMlp(), { trainDataloaders: data.trainDataloader(), valDataloaders: nothing });
    expect(trainer.status).toBe('finished');
    expect(trainer.validationHasRun).toBe(false);
    expect(hooks.calls).toEqual(['onValidationStart', 'onValidationStart']);
    expect(warnings.some((w) => w.includes("monitor: 'val_loss'"))).toBe(true);
  });
});

describe('valCheckInterval', () => {
  it('beyond the batches of an epoch is refused before training, as Lightning refuses it', async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    const before = parameters(module);
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 3, valCheckInterval: 11 }));
    await expect(trainer.fit(module, { datamodule: makeDataModule() })).rejects.toThrow(/valCheckInterval \(11\) must be at most the number of training batches per epoch \(10\)/);
    expect(trainer.globalStep).toBe(0);
    expect(parameters(module)).toEqual(before);
  });

  it('counted in global steps (checkValEveryNEpoch: null) may span epochs', async () => {
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 3, valCheckInterval: 15, checkValEveryNEpoch: null, enableCheckpointing: false }));
    await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
    expect(trainer.validationHasRun).toBe(true);
  });
});

describe('onFitEnd with AsyncCheckpointIO', () => {
  it('runs after the background saves are on storage', async () => {
    const { root } = await freshRoot('memory');
    const inner = new FsCheckpointIO();
    const slow: CheckpointIO = {
      saveCheckpoint: async (checkpoint, url, options) => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await inner.saveCheckpoint(checkpoint, url, options);
      },
      loadCheckpoint: (url, options) => inner.loadCheckpoint(url, options),
      removeCheckpoint: (url, options) => inner.removeCheckpoint(url, options),
      teardown: () => inner.teardown(),
    };
    let seenAtFitEnd: boolean | undefined;
    class Probe extends Callback {
      override async onFitEnd(trainer: Trainer): Promise<void> {
        const url = trainer.checkpointCallback!.bestModelPath;
        const { fs, path } = await urlToFs(url);
        seenAtFitEnd = await fs.exists(path);
      }
    }
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 1, checkpointIO: new AsyncCheckpointIO(slow), callbacks: [new Probe()] }));
    await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
    expect(seenAtFitEnd).toBe(true);
  });
});

describe('what reaches the loggers, as in Lightning', () => {
  class RowLogger implements Logger {
    readonly name = 'rows';
    readonly rows: { step: number; metrics: Record<string, number> }[] = [];
    logMetrics(metrics: Record<string, number>, step: number): void {
      this.rows.push({ step, metrics: { ...metrics } });
    }
    async save(): Promise<void> {}
    async finalize(): Promise<void> {}
  }

  it('step values only at log steps (never in epoch rows), and a validation batch\'s step values after it, at its index', async () => {
    const { root } = await freshRoot('memory');
    const logger = new RowLogger();
    const module = makeMlp();
    const validationStep = module.validationStep.bind(module);
    let index = 0;
    module.validationStep = (batch) => {
      module.log('val_batch', 100 + (index++ % 3), { onStep: true, onEpoch: false });
      return validationStep(batch);
    };
    // 10 training and 3 validation batches an epoch.
    const trainer = new Trainer({ ...quietOptions(root, { maxEpochs: 3, logEveryNSteps: 25, enableCheckpointing: false }), logger });
    await trainer.fit(module, { datamodule: makeDataModule() });
    expect(logger.rows.filter((r) => 'train_loss' in r.metrics).map((r) => r.step)).toEqual([24]);
    const valBatches = logger.rows.filter((r) => 'val_batch' in r.metrics);
    expect(valBatches.map((r) => [r.step, r.metrics.val_batch, r.metrics.epoch])).toEqual([0, 1, 2].flatMap((epoch) => [[0, 100, epoch], [1, 101, epoch], [2, 102, epoch]]));
    expect(valBatches.every((r) => Object.keys(r.metrics).sort().join() === 'epoch,val_batch')).toBe(true);
  });
});

describe('resuming from a weights-only checkpoint', () => {
  it('is refused for a manual-optimization module with no optimizers too', async () => {
    const { root } = await freshRoot('memory');
    const manual = () => {
      const module = makeMlp();
      module.automaticOptimization = false;
      module.trainingStep = () => ({ loss: 0 });
      module.configureOptimizers = () => null;
      return module;
    };
    const first = new Trainer(quietOptions(root, { maxSteps: 3, enableCheckpointing: false }));
    await first.fit(manual(), { datamodule: makeDataModule() });
    await first.saveCheckpoint(`${root}/weights.ckpt`, { weightsOnly: true });
    await first.saveCheckpoint(`${root}/full.ckpt`);
    const resume = (ckptPath: string) => new Trainer(quietOptions(root, { maxSteps: 5, enableCheckpointing: false })).fit(manual(), { datamodule: makeDataModule(), ckptPath });
    await expect(resume(`${root}/weights.ckpt`)).rejects.toThrow(/only model weights/);
    await expect(resume(`${root}/full.ckpt`)).resolves.toBeUndefined();
  });
});

describe('learning-rate schedulers', () => {
  const lrOf = (trainer: Trainer) => trainer.optimizers[0]!.paramGroups[0]!.hyper.lr;

  it('are left to the user with manual optimization, as in Lightning', async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    module.automaticOptimization = false;
    const original = module.trainingStep.bind(module);
    // Steps the optimizer itself and hands back the loss alone, as a manual-optimization step does.
    module.trainingStep = (batch) => {
      const { loss, grads } = original(batch);
      if (grads) module.optimizers()[0]!.step(grads);
      return { loss };
    };
    module.configureOptimizers = () => {
      const optimizer = new SGD(module.namedParameters(), { lr: 1 });
      return { optimizer, lrScheduler: { scheduler: new StepLR(optimizer, { stepSize: 1, gamma: 0.5 }), interval: 'step' } };
    };
    const trainer = new Trainer(quietOptions(root, { maxSteps: 3, enableCheckpointing: false }));
    await trainer.fit(module, { datamodule: makeDataModule() });
    expect(lrOf(trainer)).toBe(1);
  });

  it("with interval 'step', count `frequency` in batches of the epoch, as Lightning does", async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    module.configureOptimizers = () => {
      const optimizer = new SGD(module.namedParameters(), { lr: 1 });
      return { optimizer, lrScheduler: { scheduler: new StepLR(optimizer, { stepSize: 1, gamma: 0.5 }), interval: 'step', frequency: 4 } };
    };
    const steppedAfter: number[] = [];
    let previous = 1;
    class LrWatch extends Callback {
      override onTrainBatchEnd(trainer: Trainer, _module: Module<unknown>): void {
        if (lrOf(trainer) !== previous) steppedAfter.push(trainer.globalStep);
        previous = lrOf(trainer);
      }
    }
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [new LrWatch()], enableCheckpointing: false }));
    await trainer.fit(module, { datamodule: makeDataModule() });
    // Batches 4 and 8 of each 10-batch epoch; counting global steps would give 4, 8, 12, 16, 20.
    expect(steppedAfter).toEqual([4, 8, 14, 18]);
  });

  // Lightning 2.x steps these in the training epoch loop after the epoch's last optimizer step; its
  // update after the on_train_epoch_end hooks (fit_loop on_advance_end) steps ReduceLROnPlateau only.
  it("with interval 'epoch', have stepped when the onTrainEpochEnd hooks run and an epoch-end checkpoint is saved, as in Lightning", async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    module.configureOptimizers = () => {
      const optimizer = new SGD(module.namedParameters(), { lr: 1 });
      return { optimizer, lrScheduler: new StepLR(optimizer, { stepSize: 1, gamma: 0.5 }) };
    };
    const trainedWith: number[] = [];
    const seenByModule: number[] = [];
    module.onTrainEpochEnd = () => {
      seenByModule.push(lrOf(module.trainer!));
    };
    class LrWatch extends Callback {
      readonly seen: number[] = [];
      override onTrainBatchStart(trainer: Trainer): void {
        if (trainer.batchesCompletedInEpoch === 0) trainedWith.push(lrOf(trainer));
      }
      override onTrainEpochEnd(trainer: Trainer): void {
        this.seen.push(lrOf(trainer));
      }
      readonly lastBatchEnd: number[] = [];
      readonly validation: number[] = [];
      override onTrainBatchEnd(trainer: Trainer): void {
        if (trainer.isLastBatch) this.lastBatchEnd.push(lrOf(trainer));
      }
      override onValidationEnd(trainer: Trainer): void {
        this.validation.push(lrOf(trainer));
      }
    }
    const watch = new LrWatch();
    const checkpoints = new ModelCheckpoint({ dirpath: `${root}/epochs`, saveTopK: -1, saveOnTrainEpochEnd: true });
    await new Trainer(quietOptions(root, { maxEpochs: 3, callbacks: [watch, checkpoints] })).fit(module, { datamodule: makeDataModule() });

    expect(trainedWith).toEqual([1, 0.5, 0.25]);
    // The learning rate of the epoch to come, in a plain callback and in the module.
    expect(watch.seen).toEqual([0.5, 0.25, 0.125]);
    expect(seenByModule).toEqual([0.5, 0.25, 0.125]);
    // Lightning steps them before the last batch's on_train_batch_end and the epoch-end validation.
    expect(watch.lastBatchEnd).toEqual([0.5, 0.25, 0.125]);
    expect(watch.validation).toEqual([0.5, 0.25, 0.125]);
    const ckpt = (await loadCheckpoint(`${root}/epochs/epoch=0-step=10.ckpt`)) as CheckpointDict;
    expect(ckpt.lr_schedulers![0]).toMatchObject({ last_epoch: 1, _last_lr: [0.5] });
    expect(ckpt.optimizer_states![0]!.param_groups[0]!.lr).toBe(0.5);
  });

  it('resume from epoch-end and last-batch checkpoints without stepping again: an epoch scheduler with frequency 2 beside a step scheduler', async () => {
    // Two optimizers on disjoint parameters: fc1 under an epoch StepLR stepping every 2nd epoch, fc2 under a step StepLR.
    const twoSchedules = (seed: number): MLPClassifier => {
      const module = makeMlp({ seed });
      module.configureOptimizers = () => {
        const params = module.namedParameters();
        const fc1 = new SGD(params.filter(([name]) => name.startsWith('fc1.')), { lr: 0.1, momentum: 0.9 });
        const fc2 = new SGD(params.filter(([name]) => name.startsWith('fc2.')), { lr: 0.1, momentum: 0.9 });
        const schedulers: LRSchedulerConfig[] = [
          { scheduler: new StepLR(fc1, { stepSize: 1, gamma: 0.5 }), interval: 'epoch', frequency: 2 },
          { scheduler: new StepLR(fc2, { stepSize: 3, gamma: 0.8 }), interval: 'step' },
        ];
        return [[fc1, fc2], schedulers];
      };
      return module;
    };
    /** The learning rates each training batch used, with the global step before it. */
    class LrTrace extends Callback {
      readonly rows: number[][] = [];
      override onTrainBatchStart(trainer: Trainer): void {
        this.rows.push([trainer.globalStep, ...trainer.optimizers.map((o) => o.paramGroups[0]!.hyper.lr)]);
      }
    }
    const { root } = await freshRoot('memory');
    const straightTrace = new LrTrace();
    const straight = new Trainer(quietOptions(`${root}/straight`, { maxEpochs: 5, callbacks: [straightTrace], enableCheckpointing: false }));
    const straightModule = twoSchedules(7);
    await straight.fit(straightModule, { datamodule: makeDataModule() });
    // fc1 decays after epochs 1 and 3 only.
    expect([0, 10, 20, 30, 40].map((step) => straightTrace.rows[step]![1])).toEqual([0.1, 0.1, 0.05, 0.05, 0.025]);

    const checkpoints = new ModelCheckpoint({ dirpath: `${root}/epochs`, saveTopK: -1, saveOnTrainEpochEnd: true });
    // Written in the last batch's onTrainBatchEnd, after the epoch's schedulers stepped.
    const lastBatch = new ModelCheckpoint({ dirpath: `${root}/steps`, saveTopK: -1, everyNTrainSteps: 10 });
    await new Trainer(quietOptions(`${root}/first`, { maxEpochs: 3, callbacks: [checkpoints, lastBatch] })).fit(twoSchedules(7), { datamodule: makeDataModule() });
    // Before the frequency-2 step, right after it, and one epoch later; at epoch end and at the last batch.
    for (const [dir, step] of ['epochs', 'steps'].flatMap((d) => [10, 20, 30].map((n) => [d, n] as const))) {
      const trace = new LrTrace();
      const module = twoSchedules(99);
      const resumed = new Trainer(quietOptions(`${root}/resumed-${dir}-${step}`, { maxEpochs: 5, callbacks: [trace], enableCheckpointing: false }));
      await resumed.fit(module, { datamodule: makeDataModule(), ckptPath: `${root}/${dir}/epoch=${step / 10 - 1}-step=${step}.ckpt` });
      expect(trace.rows, `from ${dir} step ${step}`).toEqual(straightTrace.rows.filter(([s]) => s! >= step));
      expect(resumed.lrSchedulerConfigs.map((c) => c.scheduler.stateDict())).toEqual(straight.lrSchedulerConfigs.map((c) => c.scheduler.stateDict()));
      expect(optimizerFingerprint(resumed)).toEqual(optimizerFingerprint(straight));
      const [a, b] = [parameters(straightModule), parameters(module)];
      for (const name of Object.keys(a)) expect(Buffer.from(b[name]!.buffer).equals(Buffer.from(a[name]!.buffer)), `${name} from ${dir} step ${step}`).toBe(true);
    }
  });
});

describe('validation frequency (10 batches per epoch, 2 epochs)', () => {
  async function validatedAt(options: { valCheckInterval?: number; checkValEveryNEpoch?: number | null }): Promise<number[]> {
    const { root } = await freshRoot('memory');
    const steps: number[] = [];
    class ValWatch extends Callback {
      override onValidationEnd(trainer: Trainer): void {
        steps.push(trainer.globalStep);
      }
    }
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [new ValWatch()], enableCheckpointing: false, ...options }));
    await trainer.fit(makeMlp(), { datamodule: makeDataModule() });
    return steps;
  }

  it('valCheckInterval counts batches of each epoch, as Lightning does, with no extra run at the epoch end', async () => {
    expect(await validatedAt({ valCheckInterval: 4 })).toEqual([4, 8, 14, 18]);
    expect(await validatedAt({ valCheckInterval: 4, checkValEveryNEpoch: 2 })).toEqual([14, 18]);
  });

  it('with checkValEveryNEpoch: null it counts global steps; without an interval that is refused', async () => {
    expect(await validatedAt({ valCheckInterval: 4, checkValEveryNEpoch: null })).toEqual([4, 8, 12, 16, 20]);
    expect(await validatedAt({})).toEqual([10, 20]);
    expect(() => new Trainer({ checkValEveryNEpoch: null })).toThrow(/needs valCheckInterval/);
  });
});
