import { describe, expect, it } from 'vitest';
import { AsyncCheckpointIO, FsCheckpointIO, loadCheckpoint } from '@strata/checkpoint';
import { Callback, ClassificationDataModule, ModelCheckpoint, Trainer, type CheckpointDict, type ClassificationBatch, type Module } from '../src/index.js';
import { DataOrderRecorder, freshRoot, makeDataModule, makeMlp, optimizerFingerprint, parameters, quietOptions } from './helpers.js';

class Crash extends Error {}

class ExceptionSpy extends Callback {
  errors: unknown[] = [];
  override onException(_t: Trainer, _m: Module<any>, error: unknown): void {
    this.errors.push(error);
  }
}

class SpyDataModule extends ClassificationDataModule {
  errors: unknown[] = [];
  override onException(error: unknown): void {
    this.errors.push(error);
  }
}

describe('failure handling', () => {
  for (const io of ['sync', 'async'] as const) {
    it(`calls onException, keeps the last committed checkpoint loadable, and resumes exactly (${io} IO)`, async () => {
      const { root } = await freshRoot('memory');
      const N = 18;
      const straightOrder = new DataOrderRecorder();
      const straightModule = makeMlp({ optimizer: 'adam', lrStepSize: 1 });
      const straight = new Trainer(quietOptions(root + '/straight', { seed: 11, maxSteps: N, callbacks: [straightOrder], enableCheckpointing: false }));
      await straight.fit(straightModule, { datamodule: makeDataModule() });

      const crashing = makeMlp({ optimizer: 'adam', lrStepSize: 1 });
      const original = crashing.trainingStep.bind(crashing);
      crashing.trainingStep = (batch: ClassificationBatch) => {
        if (crashing.globalStep === 13) throw new Crash('boom at step 14');
        return original(batch);
      };
      const spy = new ExceptionSpy();
      const dm = new SpyDataModule({ samples: 200, features: 8, classes: 3, batchSize: 16, valFraction: 0.2 });
      const checkpointIO = io === 'async' ? new AsyncCheckpointIO(new FsCheckpointIO()) : new FsCheckpointIO();
      const trainer = new Trainer(quietOptions(root, { seed: 11, maxSteps: N, checkpointIO, callbacks: [spy, new ModelCheckpoint({ everyNTrainSteps: 4, saveLast: true })] }));
      await expect(trainer.fit(crashing, { datamodule: dm })).rejects.toBeInstanceOf(Crash);
      expect(spy.errors).toHaveLength(1);
      expect(spy.errors[0]).toBeInstanceOf(Crash);
      expect(dm.errors).toHaveLength(1);
      expect(trainer.status).toBe('interrupted');

      const last = (await loadCheckpoint(`${root}/checkpoints/last.ckpt`)) as CheckpointDict;
      expect(last.global_step).toBe(12);

      const order = new DataOrderRecorder();
      const module = makeMlp({ optimizer: 'adam', lrStepSize: 1, seed: 1 });
      const resumed = new Trainer(quietOptions(root, { seed: 11, maxSteps: N, callbacks: [order, new ModelCheckpoint({ everyNTrainSteps: 4, saveLast: true })] }));
      await resumed.fit(module, { datamodule: makeDataModule(), ckptPath: 'last' });
      expect(resumed.globalStep).toBe(N);
      expect(parameters(module)).toEqual(parameters(straightModule));
      for (const [name, values] of Object.entries(parameters(module))) {
        expect(Buffer.from(values.buffer).equals(Buffer.from(parameters(straightModule)[name]!.buffer))).toBe(true);
      }
      expect(optimizerFingerprint(resumed)).toEqual(optimizerFingerprint(straight));
      expect([...order.order]).toEqual([...straightOrder.order].filter(([step]) => step > 12));
    });
  }

  it('a save that fails leaves the previous checkpoint intact and reaches onException', async () => {
    const { root } = await freshRoot('memory');
    class Poison extends Callback {
      override onSaveCheckpoint(trainer: Trainer, _m: Module<any>, checkpoint: CheckpointDict): void {
        if (trainer.globalStep === 8) checkpoint.bad = () => 'functions cannot be stored';
      }
    }
    const spy = new ExceptionSpy();
    const trainer = new Trainer(quietOptions(root, { maxSteps: 12, callbacks: [spy, new Poison(), new ModelCheckpoint({ everyNTrainSteps: 4, saveLast: true, saveTopK: 0 })] }));
    await expect(trainer.fit(makeMlp(), { datamodule: makeDataModule() })).rejects.toThrow(/bad/);
    expect(spy.errors).toHaveLength(1);
    const last = (await loadCheckpoint(`${root}/checkpoints/last.ckpt`)) as CheckpointDict;
    expect(last.global_step).toBe(4);
  });
});
