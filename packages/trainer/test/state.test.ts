import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '@strata/checkpoint';
import { Callback, ClassificationDataModule, DataModule, Module, ModelCheckpoint, STRATA_VERSION, Trainer, tensorF32, type CheckpointDict, type F32Tensor, type OptimizerConfig } from '../src/index.js';
import { tinyData } from './checkpoint-cases.js';
import { freshRoot, makeMlp, quietOptions, smallData } from './helpers.js';

class Tagger extends Callback {
  seen: unknown;
  override onSaveCheckpoint(trainer: Trainer, _module: Module<any>, checkpoint: CheckpointDict): void {
    checkpoint.tagger = { savedAtStep: trainer.globalStep, note: 'from Tagger', probe: tensorF32([2], [1.5, -2]), when: new Date(0) };
  }
  override onLoadCheckpoint(_trainer: Trainer, _module: Module<any>, checkpoint: CheckpointDict): void {
    this.seen = checkpoint.tagger;
  }
}

class Counter extends Callback {
  count = 0;
  constructor(private readonly key = 'Counter') {
    super();
  }
  override get stateKey(): string {
    return this.key;
  }
  override onTrainBatchEnd(): void {
    this.count += 1;
  }
  override stateDict(): Record<string, unknown> {
    return { count: this.count };
  }
  override loadStateDict(state: Record<string, unknown>): void {
    this.count = state.count as number;
  }
}

/** Builds its loader from its state when the loader is requested (a curriculum level). */
class CurriculumData extends DataModule<number> {
  level = 0;
  override trainDataloader(): number[] {
    return [this.level, this.level, this.level];
  }
  override stateDict(): Record<string, unknown> {
    return { level: this.level };
  }
  override loadStateDict(state: Record<string, unknown>): void {
    this.level = state.level as number;
  }
}

/** Records its batches; no parameters to update. */
class BatchRecorder extends Module<number> {
  readonly seen: number[] = [];
  constructor() {
    super();
    this.automaticOptimization = false;
  }
  override trainingStep(batch: number): number {
    this.seen.push(batch);
    return 0;
  }
  override configureOptimizers(): OptimizerConfig {
    return null;
  }
}

describe('checkpoint contents and state round trips', () => {
  it("writes Lightning's keys", async () => {
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxSteps: 3, callbacks: [new Counter(), new Tagger()], enableCheckpointing: false }));
    const module = makeMlp({ lrStepSize: 2 });
    await trainer.fit(module, { datamodule: tinyData() });
    const url = `${root}/keys.ckpt`;
    await trainer.saveCheckpoint(url);
    const ckpt = (await loadCheckpoint(url)) as CheckpointDict;
    expect(Object.keys(ckpt).sort()).toEqual(
      ['ClassificationDataModule', 'callbacks', 'datamodule_hyper_parameters', 'epoch', 'global_step', 'hyper_parameters', 'loops', 'lr_schedulers', 'optimizer_states', 'state_dict', 'strata_version', 'tagger'].sort(),
    );
    expect(ckpt.epoch).toBe(1);
    expect(ckpt.global_step).toBe(3);
    expect(ckpt.strata_version).toBe(STRATA_VERSION);
    // Only non-empty callback states, keyed by stateKey.
    expect(ckpt.callbacks).toEqual({ Counter: { count: 3 } });
    expect(ckpt.loops.fit_loop.epoch_progress.current.completed).toBe(1);
    expect(ckpt.loops.fit_loop.epoch_loop.batch_progress.current.completed).toBe(1);
    expect(ckpt.optimizer_states![0]!.param_groups[0]!.param_names).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    expect(Object.keys(ckpt.optimizer_states![0]!.state)).toEqual(['0', '1', '2', '3']);
    expect(ckpt.lr_schedulers![0]).toMatchObject({ step_size: 2, last_epoch: 1 });
    expect(ckpt.hyper_parameters).toMatchObject({ inputSize: smallData.features, hiddenSize: 16 });
  });

  it('round-trips datamodule state, callback state and onSaveCheckpoint keys', async () => {
    const { root } = await freshRoot('memory');
    const dm = tinyData();
    const counter = new Counter();
    const trainer = new Trainer(quietOptions(root, { maxSteps: 5, callbacks: [counter, new Tagger()], enableCheckpointing: false }));
    await trainer.fit(makeMlp(), { datamodule: dm });
    const url = `${root}/state.ckpt`;
    await trainer.saveCheckpoint(url);
    expect(dm.statisticsComputed).toBe(1);

    // Different data seed: computed statistics would differ; restored ones must be used.
    const dm2 = new ClassificationDataModule({ ...smallData, samples: 40, batchSize: 16, valFraction: 0.25, dataSeed: 999 });
    const counter2 = new Counter();
    const tagger2 = new Tagger();
    const resumed = new Trainer(quietOptions(root, { maxSteps: 6, callbacks: [counter2, tagger2], enableCheckpointing: false }));
    await resumed.fit(makeMlp(), { datamodule: dm2, ckptPath: url });
    expect(dm2.statisticsComputed).toBe(0);
    expect(Buffer.from((dm2.mean as F32Tensor).data.buffer).equals(Buffer.from(dm.mean!.data.buffer))).toBe(true);
    expect(Buffer.from((dm2.std as F32Tensor).data.buffer).equals(Buffer.from(dm.std!.data.buffer))).toBe(true);
    expect(counter2.count).toBe(6); // 5 restored + 1 more step
    expect(tagger2.seen).toEqual({ savedAtStep: 5, note: 'from Tagger', probe: { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2]) }, when: new Date(0) });
  });

  it('asks for the dataloaders after the datamodule state is restored', async () => {
    const { root } = await freshRoot('memory');
    const dm = new CurriculumData();
    dm.level = 2;
    const trainer = new Trainer(quietOptions(root, { maxSteps: 2, enableCheckpointing: false }));
    await trainer.fit(new BatchRecorder(), { datamodule: dm });
    const url = `${root}/curriculum.ckpt`;
    await trainer.saveCheckpoint(url);

    const recorder = new BatchRecorder();
    const resumed = new Trainer(quietOptions(root, { maxSteps: 5, enableCheckpointing: false }));
    await resumed.fit(recorder, { datamodule: new CurriculumData(), ckptPath: url });
    expect(recorder.seen).toEqual([2, 2, 2]);
    expect(resumed.numTrainingBatches).toBe(3);
  });

  it('module onSaveCheckpoint/onLoadCheckpoint see the same extra key', async () => {
    const { root } = await freshRoot('memory');
    const saver = makeMlp();
    saver.onSaveCheckpoint = (ckpt) => {
      ckpt.ema_decay = 0.999;
    };
    const trainer = new Trainer(quietOptions(root, { maxSteps: 2, enableCheckpointing: false }));
    await trainer.fit(saver, { datamodule: tinyData() });
    await trainer.saveCheckpoint(`${root}/m.ckpt`);
    const loader = makeMlp();
    let seen: unknown;
    loader.onLoadCheckpoint = (ckpt) => {
      seen = ckpt.ema_decay;
    };
    await new Trainer(quietOptions(root, { maxSteps: 3, enableCheckpointing: false })).fit(loader, { datamodule: tinyData(), ckptPath: `${root}/m.ckpt` });
    expect(seen).toBe(0.999);
  });

  it('warns about saved callback states with no matching callback, and refuses an epoch beyond maxEpochs', async () => {
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 3, callbacks: [new Counter('Counter[a]'), new Counter('Counter[b]')], enableCheckpointing: false }));
    await trainer.fit(makeMlp(), { datamodule: tinyData() });
    const url = `${root}/c.ckpt`;
    await trainer.saveCheckpoint(url);

    const only = new Counter('Counter[a]');
    const resumed = new Trainer(quietOptions(root, { maxEpochs: 4, callbacks: [only], enableCheckpointing: false }));
    await resumed.fit(makeMlp(), { datamodule: tinyData(), ckptPath: url });
    expect(only.count).toBe(8);
    expect(resumed.warnings.some((w) => w.includes('Counter[b]'))).toBe(true);

    const tooFew = new Trainer(quietOptions(root, { maxEpochs: 2, enableCheckpointing: false }));
    await expect(tooFew.fit(makeMlp(), { datamodule: tinyData(), ckptPath: url })).rejects.toThrow(/epoch=3.*maxEpochs=2/);
  });

  it('refuses two stateful callbacks with the same stateKey when the Trainer is made, as Lightning does', async () => {
    const { root } = await freshRoot('memory');
    expect(() => new Trainer(quietOptions(root, { maxSteps: 1, callbacks: [new Counter(), new Counter()], enableCheckpointing: false }))).toThrow(/share the stateKey "Counter"/);
    // Two ModelCheckpoints watching the same metric differ only in where they write: the same key.
    expect(() => new Trainer(quietOptions(root, { callbacks: [new ModelCheckpoint({ dirpath: `${root}/a` }), new ModelCheckpoint({ dirpath: `${root}/b` })] }))).toThrow(/share the stateKey/);
    // Stateless callbacks may share one.
    class Stateless extends Callback {}
    expect(() => new Trainer(quietOptions(root, { callbacks: [new Stateless(), new Stateless()], enableCheckpointing: false }))).not.toThrow();
  });

  it('an epoch-end checkpoint records the epoch as processed, not yet completed', async () => {
    const { root } = await freshRoot('memory');
    const cb = new ModelCheckpoint({ saveTopK: -1 });
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [cb] }));
    await trainer.fit(makeMlp(), { datamodule: tinyData() });
    const ckpt = (await loadCheckpoint(`${root}/checkpoints/epoch=0-step=2.ckpt`)) as CheckpointDict;
    expect(ckpt.epoch).toBe(0);
    expect(ckpt.loops.fit_loop.epoch_progress.current).toMatchObject({ processed: 1, completed: 0 });
  });
});
