import { loadCheckpoint } from '@strata/checkpoint';
import { describe, expect, it } from 'vitest';
import { EarlyStopping, MLPClassifier, ModelCheckpoint, Trainer, type ClassificationBatch, type TrainerOptions } from '../src/index.js';
import { ScriptedModule, tinyData } from './checkpoint-cases.js';
import { freshRoot, quietOptions, smallData } from './helpers.js';

// tinyData has 2 training batches an epoch; ScriptedModule logs `score` = script[epoch] in validation.
async function fitScripted(script: number[], early: EarlyStopping, extra: TrainerOptions = {}, ckptPath?: string) {
  const { root } = await freshRoot('memory');
  const trainer = new Trainer(quietOptions(root, { maxEpochs: script.length, enableCheckpointing: false, callbacks: [early], ...extra }));
  await trainer.fit(new ScriptedModule(script), { datamodule: tinyData(), ...(ckptPath ? { ckptPath } : {}) });
  return trainer;
}

/** Logs `score` = script[globalStep - 1] in validation, so checks after each step see new values. */
class StepScriptedModule extends MLPClassifier {
  constructor(private readonly script: number[]) {
    super({ inputSize: smallData.features, hiddenSize: 8, numClasses: smallData.classes, seed: 1, lr: 0.05 });
  }
  override validationStep(batch: ClassificationBatch): number {
    const loss = super.validationStep(batch);
    this.log('score', this.script[(this.trainer?.globalStep ?? 0) - 1] ?? NaN);
    return loss;
  }
}

describe('EarlyStopping', () => {
  it('stops after `patience` checks without improvement, at the end of that epoch', async () => {
    const early = new EarlyStopping({ monitor: 'score', patience: 2 });
    const trainer = await fitScripted([5, 4, 4.5, 4.2, 1, 1, 1, 1], early);
    expect(early.stoppedEpoch).toBe(3);
    expect(early.bestScore).toBe(4);
    expect(early.waitCount).toBe(2);
    expect(trainer.currentEpoch).toBe(4);
    expect(trainer.globalStep).toBe(8);
  });

  it('counts an improvement of at most minDelta as none (max mode)', async () => {
    const early = new EarlyStopping({ monitor: 'score', mode: 'max', minDelta: 0.5, patience: 2 });
    const trainer = await fitScripted([1, 1.4, 1.6, 2.2, 2.3, 2.4, 9, 9, 9], early);
    // 1.4 and 2.3 and 2.4 gain less than 0.5 over the best; 1.6 and 2.2 do.
    expect(early.minDelta).toBe(0.5);
    expect(early.bestScore).toBe(2.2);
    expect(early.stoppedEpoch).toBe(5);
    expect(trainer.currentEpoch).toBe(6);
    expect(new EarlyStopping({ monitor: 'score', minDelta: 0.5 }).minDelta).toBe(-0.5);
  });

  it.each([
    ['stoppingThreshold', { stoppingThreshold: 0.5 }, [1, 0.4, 0.1, 0.05]],
    ['divergenceThreshold', { divergenceThreshold: 10 }, [1, 11, 0.5, 0.1]],
    ['a non-finite value', {}, [1, NaN, 0.5, 0.1]],
    ['an infinite value', {}, [1, Infinity, 0.5, 0.1]],
  ] as const)('stops at once on %s', async (_name, options, script) => {
    const early = new EarlyStopping({ monitor: 'score', patience: 10, ...options });
    const trainer = await fitScripted([...script], early);
    expect(early.stoppedEpoch).toBe(1);
    expect(trainer.currentEpoch).toBe(2);
  });

  it('with checkFinite off, a NaN is only no improvement', async () => {
    const early = new EarlyStopping({ monitor: 'score', checkFinite: false, patience: 2 });
    const trainer = await fitScripted([1, NaN, 0.5, 0.1], early);
    expect(trainer.currentEpoch).toBe(4);
    expect(early.bestScore).toBe(0.1);
    expect(early.stoppedEpoch).toBe(0);
  });

  it('throws on a missing metric, naming the ones there are; strict: false skips the check', async () => {
    const strict = new EarlyStopping({ monitor: 'val_los' });
    await expect(fitScripted([1, 1, 1, 1, 1], strict)).rejects.toThrow(/`val_los` which is not available.*`val_loss`/);

    const warnings: string[] = [];
    const lenient = new EarlyStopping({ monitor: 'val_los', strict: false, verbose: true, patience: 0 });
    const trainer = await fitScripted([1, 1, 1, 1, 1], lenient, { onWarning: (m) => warnings.push(m) });
    expect(trainer.currentEpoch).toBe(5);
    expect(warnings.filter((w) => w.includes('`val_los` which is not available'))).toHaveLength(5);
  });

  it('checks after each validation when validation runs more than once an epoch, and may stop mid-epoch', async () => {
    const early = new EarlyStopping({ monitor: 'score', patience: 1 });
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 5, valCheckInterval: 1, enableCheckpointing: false, callbacks: [early] }));
    await trainer.fit(new StepScriptedModule([3, 2, 2.5, 1]), { datamodule: tinyData() });
    // Steps 1 and 2 improve, step 3 (the first batch of epoch 1) does not.
    expect(trainer.globalStep).toBe(3);
    expect(trainer.stoppedMidEpoch).toBe(true);
    expect(early.stoppedEpoch).toBe(1);
    expect(early.bestScore).toBe(2);
  });

  it("runs after the module's onTrainEpochEnd, so it sees what that hook logged", async () => {
    const early = new EarlyStopping({ monitor: 'train_score', patience: 1 });
    const { root } = await freshRoot('memory');
    const module = new ScriptedModule([0, 0, 0, 0]);
    module.onTrainEpochEnd = () => module.log('train_score', [3, 2, 2, 1][module.currentEpoch]!);
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 4, enableCheckpointing: false, callbacks: [early] }));
    await trainer.fit(module, { datamodule: tinyData() });
    expect(early.stoppedEpoch).toBe(2);
    expect(trainer.currentEpoch).toBe(3);
  });

  it.each([
    [{ mode: 'mean' }, /mode must be 'min' or 'max'/],
    [{ patience: 1.5 }, /patience must be a whole number/],
    [{ minDelta: NaN }, /minDelta must be a finite number/],
    [{ monitor: '' }, /monitor must name a logged metric/],
  ])('refuses %o', (options, message) => {
    expect(() => new EarlyStopping({ monitor: 'score', ...(options as object) })).toThrow(message);
  });

  it('runs before ModelCheckpoint, and a resumed run stops where a straight one does', async () => {
    const script = [5, 4, 4.5, 4.2, 1, 1, 1, 1];
    const straight = new EarlyStopping({ monitor: 'score', patience: 2 });
    await fitScripted(script, straight);

    const { root } = await freshRoot('memory');
    // ModelCheckpoint listed first: the trainer still runs the EarlyStopping check before it saves.
    const first = new EarlyStopping({ monitor: 'score', patience: 2 });
    const firstRun = new Trainer(quietOptions(root, { maxEpochs: 3, callbacks: [new ModelCheckpoint({ saveLast: true }), first] }));
    await firstRun.fit(new ScriptedModule(script), { datamodule: tinyData() });
    const saved = (await loadCheckpoint(`${root}/checkpoints/last.ckpt`)) as { callbacks: Record<string, unknown> };
    expect(saved.callbacks['EarlyStopping{"monitor":"score","mode":"min"}']).toEqual({ wait_count: 1, stopped_epoch: 0, best_score: 4, patience: 2 });

    const resumed = new EarlyStopping({ monitor: 'score', patience: 2 });
    const secondRun = new Trainer(quietOptions(root, { maxEpochs: script.length, callbacks: [new ModelCheckpoint({ saveLast: true }), resumed] }));
    await secondRun.fit(new ScriptedModule(script), { datamodule: tinyData(), ckptPath: 'last' });
    expect(resumed.stateDict()).toEqual(straight.stateDict());
    expect(secondRun.currentEpoch).toBe(4);
    const last = (await loadCheckpoint(`${root}/checkpoints/last.ckpt`)) as { callbacks: Record<string, unknown>; epoch: number };
    expect(last.epoch).toBe(3);
    expect(last.callbacks['EarlyStopping{"monitor":"score","mode":"min"}']).toEqual({ wait_count: 2, stopped_epoch: 3, best_score: 4, patience: 2 });
  });

  it('keeps an unset best score (±Infinity) through a checkpoint', async () => {
    const early = new EarlyStopping({ monitor: 'score', mode: 'max' });
    const copy = new EarlyStopping({ monitor: 'score', mode: 'max' });
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxSteps: 1, callbacks: [early] }));
    await trainer.fit(new ScriptedModule([1]), { datamodule: tinyData() });
    await trainer.saveCheckpoint(`${root}/mid.ckpt`);
    const saved = (await loadCheckpoint(`${root}/mid.ckpt`)) as { callbacks: Record<string, Record<string, unknown>> };
    copy.loadStateDict(saved.callbacks[early.stateKey]!);
    expect(copy.bestScore).toBe(-Infinity);
    expect(() => copy.loadStateDict({ wait_count: '1' })).toThrow(/'wait_count' must be a number/);
  });
});
