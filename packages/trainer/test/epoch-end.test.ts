import { describe, expect, it } from 'vitest';
import { Callback, ModelCheckpoint, Trainer, type Logger, type Module } from '../src/index.js';
import { tinyData } from './checkpoint-cases.js';
import { freshRoot, makeMlp, quietOptions } from './helpers.js';

class RecordingLogger implements Logger {
  readonly name = 'recording';
  readonly rows: Array<Record<string, number>> = [];
  logMetrics(metrics: Record<string, number>): void {
    this.rows.push({ ...metrics });
  }
  async save(): Promise<void> {}
  async finalize(): Promise<void> {}
}

/** Logs from a plain callback's epoch-end hooks, and remembers what it saw there. */
class EpochEndLogger extends Callback {
  valLossSeen: number | undefined;
  trainAccSeen: number | undefined;
  override onValidationEpochEnd(trainer: Trainer, module: Module<unknown>): void {
    this.valLossSeen = trainer.callbackMetrics.val_loss;
    module.log('cb_val_score', 10 + trainer.currentEpoch);
  }
  override onTrainEpochEnd(trainer: Trainer, module: Module<unknown>): void {
    this.trainAccSeen = trainer.callbackMetrics.train_acc;
    // Lightning's defaults in this hook: an epoch value, not a step value.
    module.log('cb_train_score', 20 + trainer.currentEpoch);
  }
}

describe('metrics logged in epoch-end hooks', () => {
  it('reach callbackMetrics, the monitoring ModelCheckpoint and the loggers', async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    module.onValidationEpochEnd = () => module.log('val_score', [0.3, 0.9, 0.5][module.currentEpoch]!);
    module.onTrainEpochEnd = () => module.log('train_score', [3, 1, 2][module.currentEpoch]!, { onStep: false, onEpoch: true });
    const byVal = new ModelCheckpoint({ monitor: 'val_score', mode: 'max', filename: 'val-{epoch}', saveOnTrainEpochEnd: false });
    const byTrain = new ModelCheckpoint({ dirpath: `${root}/by-train`, monitor: 'train_score', filename: 'train-{epoch}', saveOnTrainEpochEnd: true });
    const byCallback = new ModelCheckpoint({ dirpath: `${root}/by-cb`, monitor: 'cb_train_score', mode: 'max', filename: 'cb-{epoch}' });
    const plain = new EpochEndLogger();
    const logger = new RecordingLogger();
    const trainer = new Trainer({ ...quietOptions(root, { maxEpochs: 3, callbacks: [byVal, byTrain, byCallback, plain] }), logger });
    await trainer.fit(module, { datamodule: tinyData() });

    expect(byVal.bestModelScore).toBe(0.9);
    expect(byVal.bestModelPath).toBe(`${root}/checkpoints/val-epoch=1.ckpt`);
    expect(byTrain.bestModelScore).toBe(1);
    expect(byCallback.bestModelScore).toBe(22);
    expect(trainer.callbackMetrics).toMatchObject({ val_score: 0.5, train_score: 2, cb_val_score: 12, cb_train_score: 22 });
    // Plain callbacks still see the values reduced from the steps of the epoch that is ending.
    expect(plain.valLossSeen).toBe(trainer.callbackMetrics.val_loss);
    expect(plain.trainAccSeen).toBe(trainer.callbackMetrics.train_acc);
    const logged = (key: string) => logger.rows.filter((r) => key in r).map((r) => r[key]);
    expect(logged('val_score')).toEqual([0.3, 0.9, 0.5]);
    expect(logged('train_score')).toEqual([3, 1, 2]);
    expect(logged('cb_val_score')).toEqual([10, 11, 12]);
    expect(logged('cb_train_score')).toEqual([20, 21, 22]);
  });

  it('default to epoch values in onTrainEpochStart/End, reduced over what the epoch logged there', async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    module.onTrainEpochStart = () => module.log('epoch_marker', 1, { reduceFx: 'sum' });
    module.onTrainEpochEnd = () => module.log('epoch_marker', 2, { reduceFx: 'sum' });
    const logger = new RecordingLogger();
    const trainer = new Trainer({ ...quietOptions(root, { maxEpochs: 2, enableCheckpointing: false }), logger });
    await trainer.fit(module, { datamodule: tinyData() });
    const rows = logger.rows.filter((r) => 'epoch_marker' in r);
    // One epoch value per epoch (1 + 2), and no `_step`/`_epoch` fork as with onStep and onEpoch both on.
    expect(rows.map((r) => [r.epoch, r.epoch_marker])).toEqual([[0, 3], [1, 3]]);
    expect(Object.keys(trainer.callbackMetrics).filter((k) => k.startsWith('epoch_marker'))).toEqual(['epoch_marker']);
    expect(trainer.loggedMetrics.epoch_marker).toBe(3);
  });
});

describe('log() where Lightning refuses it', () => {
  it.each(['onValidationEnd', 'onTrainEnd', 'onFitStart', 'onFitEnd', 'onSaveCheckpoint'] as const)('throws in %s, naming the hook, instead of dropping the value', async (hook) => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    (module as unknown as Record<string, () => void>)[hook] = () => module.log('lost', 1);
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 1 }));
    await expect(trainer.fit(module, { datamodule: tinyData() })).rejects.toThrow(`You can't log("lost") inside ${hook}`);
  });

  it('a callback may still log in onTrainEpochEnd after a ModelCheckpoint saved in the same hook', async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp();
    class LateLogger extends Callback {
      override onTrainEpochEnd(_trainer: Trainer, m: Module<unknown>): void {
        m.log('late', 1);
      }
    }
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 1, callbacks: [new ModelCheckpoint({}), new LateLogger()] }));
    await trainer.fit(module, { datamodule: tinyData() });
    expect(trainer.callbackMetrics.late).toBe(1);
  });
});

/** Fails the fit instead of letting a loop that never ends hang the test run. */
class EpochLimit extends Callback {
  override onTrainEpochStart(trainer: Trainer): void {
    if (trainer.currentEpoch > 5) throw new Error('the fit loop kept starting empty epochs');
  }
}

describe('an epoch without training batches', () => {
  const oneBatch = [{ x: new Float32Array(8), y: new Int32Array(1), size: 1, indices: new Uint32Array(1) }];

  it('stops fit with one warning when the loader is empty, and still tears down', async () => {
    const { root } = await freshRoot('memory');
    const warnings: string[] = [];
    let tornDown = false;
    const module = makeMlp();
    module.teardown = () => {
      tornDown = true;
    };
    const trainer = new Trainer(quietOptions(root, { maxSteps: 100, callbacks: [new EpochLimit()], enableCheckpointing: false, onWarning: (w) => warnings.push(w) }));
    await trainer.fit(module, { trainDataloaders: [] });
    expect(trainer.status).toBe('finished');
    expect(trainer.globalStep).toBe(0);
    expect(warnings.filter((w) => /no training batches/i.test(w))).toHaveLength(1);
    expect(tornDown).toBe(true);
  });

  it('stops when a one-shot generator is empty from the second epoch on', async () => {
    const { root } = await freshRoot('memory');
    const warnings: string[] = [];
    const oneShot = (function* () {
      yield* oneBatch;
    })();
    const trainer = new Trainer(quietOptions(root, { maxSteps: 100, callbacks: [new EpochLimit()], enableCheckpointing: false, onWarning: (w) => warnings.push(w) }));
    await trainer.fit(makeMlp(), { trainDataloaders: oneShot });
    expect(trainer.status).toBe('finished');
    expect(trainer.globalStep).toBe(1);
    expect(trainer.currentEpoch).toBe(1);
    expect(warnings.filter((w) => /no training batches/i.test(w))).toHaveLength(1);
  });
});
