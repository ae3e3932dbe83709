import { expect, it } from 'vitest';
import type { StorageOptions } from '@strata/fs-core';
import { ModelCheckpoint, Trainer, type ClassificationBatch, type MLPClassifier, type TrainerOptions } from '../src/index.js';
import { DataOrderRecorder, makeDataModule, makeMlp, optimizerFingerprint, parameters } from './helpers.js';

export interface ResumeContext {
  /** A fresh, empty root URL for one test. */
  root(): Promise<string>;
  storageOptions?: StorageOptions | undefined;
}

type Variant = { optimizer: 'sgd' | 'adam' };

function trainerOptions(ctx: ResumeContext, root: string, extra: TrainerOptions): TrainerOptions {
  return {
    defaultRootDir: root,
    storageOptions: ctx.storageOptions,
    enableProgressBar: false,
    logger: false,
    seed: 3,
    // Every 7 global steps (not 7 batches into each epoch), so validation also follows each resume point.
    valCheckInterval: 7,
    checkValEveryNEpoch: null,
    onWarning: () => undefined,
    ...extra,
  };
}

function mlp(variant: Variant, seed = 7): MLPClassifier {
  const module = makeMlp({ optimizer: variant.optimizer, lr: variant.optimizer === 'adam' ? 0.01 : 0.05, lrStepSize: 1, gamma: 0.5, seed });
  // An epoch mean that differs batch by batch (train_acc soon sits at 1), so one cut at a resume shows.
  const step = module.trainingStep.bind(module);
  module.trainingStep = (batch: ClassificationBatch) => {
    module.log('first_index', batch.indices[0]!, { onStep: false, onEpoch: true });
    return step(batch);
  };
  return module;
}

async function straightRun(ctx: ResumeContext, variant: Variant, steps: number) {
  const order = new DataOrderRecorder();
  const module = mlp(variant);
  const trainer = new Trainer(trainerOptions(ctx, await ctx.root(), { maxSteps: steps, callbacks: [order], enableCheckpointing: false }));
  await trainer.fit(module, { datamodule: makeDataModule() });
  return { module, trainer, order };
}

function expectIdentical(
  a: { module: MLPClassifier; trainer: Trainer; order: DataOrderRecorder },
  b: { module: MLPClassifier; trainer: Trainer; order: DataOrderRecorder },
  fromStep: number,
): void {
  expect(b.trainer.globalStep).toBe(a.trainer.globalStep);
  expect(b.trainer.currentEpoch).toBe(a.trainer.currentEpoch);
  const pa = parameters(a.module);
  const pb = parameters(b.module);
  for (const name of Object.keys(pa)) expect(Buffer.from(pb[name]!.buffer).equals(Buffer.from(pa[name]!.buffer)), `parameter ${name}`).toBe(true);
  expect(optimizerFingerprint(b.trainer)).toEqual(optimizerFingerprint(a.trainer));
  expect(b.trainer.lrSchedulerConfigs.map((c) => c.scheduler.stateDict())).toEqual(a.trainer.lrSchedulerConfigs.map((c) => c.scheduler.stateDict()));
  const expectedOrder = [...a.order.order].filter(([step]) => step > fromStep);
  expect([...b.order.order]).toEqual(expectedOrder);
  // The metrics too: an epoch mean that spans the resume counts the batches before it.
  expect(b.trainer.callbackMetrics).toEqual(a.trainer.callbackMetrics);
}

/**
 * Train N steps straight vs k steps + save + fresh Trainer and Module + resume to N. Parameters,
 * optimizer and scheduler state, data order, global step and epoch must be bit-identical.
 */
export function exactResumeCases(ctx: ResumeContext): void {
  const N = 25;

  for (const variant of [{ optimizer: 'sgd' }, { optimizer: 'adam' }] as Variant[]) {
    for (const k of [13, 10]) {
      it(`${variant.optimizer}: ${k} steps + trainer.saveCheckpoint + fresh resume to ${N} is bit-identical${k % 10 ? ' (mid-epoch)' : ' (epoch boundary)'}`, async () => {
        const straight = await straightRun(ctx, variant, N);

        const root = await ctx.root();
        const first = new Trainer(trainerOptions(ctx, root, { maxSteps: k, enableCheckpointing: false }));
        await first.fit(mlp(variant), { datamodule: makeDataModule() });
        const url = `${root}/manual/step-${k}.ckpt`;
        await first.saveCheckpoint(url);

        const order = new DataOrderRecorder();
        // Different init seed: everything must come from the checkpoint.
        const module = mlp(variant, 99);
        const trainer = new Trainer(trainerOptions(ctx, root, { maxSteps: N, callbacks: [order], enableCheckpointing: false }));
        await trainer.fit(module, { datamodule: makeDataModule(), ckptPath: url });
        expect(trainer.ckptPath).toBe(url);
        expectIdentical(straight, { module, trainer, order }, k);
      });
    }
  }

  it('resumes bit-identically from checkpoints ModelCheckpoint wrote mid-epoch and at epoch end', async () => {
    const variant: Variant = { optimizer: 'adam' };
    const straight = await straightRun(ctx, variant, N);
    const root = await ctx.root();
    const everySteps = new ModelCheckpoint({ dirpath: `${root}/steps`, everyNTrainSteps: 7, saveTopK: -1 });
    const everyEpoch = new ModelCheckpoint({ dirpath: `${root}/epochs`, saveTopK: -1, saveOnTrainEpochEnd: true });
    const first = new Trainer(trainerOptions(ctx, root, { maxSteps: N, callbacks: [everySteps, everyEpoch] }));
    await first.fit(mlp(variant), { datamodule: makeDataModule() });

    for (const [url, fromStep] of [
      [`${root}/steps/epoch=1-step=14.ckpt`, 14],
      [`${root}/steps/epoch=2-step=21.ckpt`, 21],
      [`${root}/epochs/epoch=0-step=10.ckpt`, 10],
      [`${root}/epochs/epoch=1-step=20.ckpt`, 20],
    ] as const) {
      const order = new DataOrderRecorder();
      const module = mlp(variant, 1234);
      const trainer = new Trainer(trainerOptions(ctx, await ctx.root(), { maxSteps: N, callbacks: [order], enableCheckpointing: false }));
      await trainer.fit(module, { datamodule: makeDataModule(), ckptPath: url });
      expectIdentical(straight, { module, trainer, order }, fromStep);
    }
  });
}
