import { expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '@strata/checkpoint';
import { NotFoundError, urlToFs, type StorageOptions } from '@strata/fs-core';
import { ClassificationDataModule, MLPClassifier, ModelCheckpoint, Trainer, type ClassificationBatch, type ModelCheckpointOptions, type TrainerOptions } from '../src/index.js';
import { smallData } from './helpers.js';

export interface CheckpointContext {
  root(): Promise<string>;
  storageOptions?: StorageOptions | undefined;
}

/** 30 training rows in batches of 16: 2 steps per epoch; 10 validation rows. */
export function tinyData(): ClassificationDataModule {
  return new ClassificationDataModule({ ...smallData, samples: 40, batchSize: 16, valFraction: 0.25 });
}

/** An MLP that also logs `score` from a script indexed by epoch, to steer top-k. */
export class ScriptedModule extends MLPClassifier {
  constructor(private readonly script: number[]) {
    super({ inputSize: smallData.features, hiddenSize: 8, numClasses: smallData.classes, seed: 1, lr: 0.05 });
  }
  override validationStep(batch: ClassificationBatch): number {
    const loss = super.validationStep(batch);
    this.log('score', this.script[this.currentEpoch] ?? NaN);
    return loss;
  }
}

export async function listNames(ctx: CheckpointContext, dir: string): Promise<string[]> {
  const { fs, path } = await urlToFs(dir, ctx.storageOptions);
  try {
    return (await fs.ls(path)).map((e) => e.name.slice(e.name.lastIndexOf('/') + 1)).sort();
  } catch (error) {
    if (error instanceof NotFoundError) return [];
    throw error;
  } finally {
    await fs.close();
  }
}

export async function exists(ctx: CheckpointContext, url: string): Promise<boolean> {
  const { fs, path } = await urlToFs(url, ctx.storageOptions);
  try {
    return await fs.exists(path);
  } finally {
    await fs.close();
  }
}

function options(ctx: CheckpointContext, root: string, extra: TrainerOptions): TrainerOptions {
  return { defaultRootDir: root, storageOptions: ctx.storageOptions, enableProgressBar: false, logger: false, onWarning: () => undefined, ...extra };
}

async function run(ctx: CheckpointContext, root: string, cb: ModelCheckpoint, script: number[], extra: TrainerOptions = {}, ckptPath?: string) {
  const trainer = new Trainer(options(ctx, root, { maxEpochs: script.length, callbacks: [cb], ...extra }));
  await trainer.fit(new ScriptedModule(script), { datamodule: tinyData(), ...(ckptPath ? { ckptPath } : {}) });
  return trainer;
}

const ckpt = (epoch: number, score?: number) => `epoch=${epoch}-step=${(epoch + 1) * 2}${score === undefined ? '' : `-score=${score.toFixed(2)}`}.ckpt`;

/** ModelCheckpoint behaviour that must hold on every protocol. */
export function modelCheckpointCases(ctx: CheckpointContext): void {
  const scores = [5, 3, 4, 1, 2];
  const topK = (extra: ModelCheckpointOptions = {}) => new ModelCheckpoint({ monitor: 'score', filename: '{epoch}-{step}-{score:.2f}', saveTopK: 2, ...extra });

  it('keeps the best k by the monitored metric (mode min) and reports best/kth/last fields', async () => {
    const root = await ctx.root();
    const cb = topK({ saveLast: true });
    await run(ctx, root, cb, scores);
    const dir = `${root}/checkpoints`;
    expect(cb.dirpath).toBe(dir);
    expect(await listNames(ctx, dir)).toEqual([ckpt(3, 1), ckpt(4, 2), 'last.ckpt'].sort());
    expect(cb.bestModelPath).toBe(`${dir}/${ckpt(3, 1)}`);
    expect(cb.bestModelScore).toBe(1);
    expect(cb.bestKModels).toEqual({ [`${dir}/${ckpt(3, 1)}`]: 1, [`${dir}/${ckpt(4, 2)}`]: 2 });
    expect(cb.kthBestModelPath).toBe(`${dir}/${ckpt(4, 2)}`);
    expect(cb.kthValue).toBe(2);
    expect(cb.lastModelPath).toBe(`${dir}/last.ckpt`);
    const last = await loadCheckpoint(`${dir}/last.ckpt`, { storageOptions: ctx.storageOptions });
    expect(last.global_step).toBe(10);
    // The callback's own state is inside the checkpoint it wrote.
    const state = (last.callbacks as Record<string, Record<string, unknown>>)[cb.stateKey]!;
    expect(state.best_model_path).toBe(cb.bestModelPath);
    expect(state.best_k_models).toEqual(cb.bestKModels);
    expect(state.last_model_path).toBe(`${dir}/last.ckpt`);
  });

  it("mode 'max', saveTopK -1 (all) and saveTopK 0 (none, last only)", async () => {
    const maxRoot = await ctx.root();
    const max = topK({ mode: 'max', dirpath: `${maxRoot}/max` });
    await run(ctx, maxRoot, max, scores);
    expect(await listNames(ctx, `${maxRoot}/max`)).toEqual([ckpt(0, 5), ckpt(2, 4)]);
    expect(max.bestModelScore).toBe(5);

    const all = topK({ saveTopK: -1, dirpath: `${maxRoot}/all` });
    await run(ctx, maxRoot, all, scores);
    expect(await listNames(ctx, `${maxRoot}/all`)).toEqual(scores.map((s, e) => ckpt(e, s)).sort());
    expect(all.bestModelPath).toBe(`${maxRoot}/all/${ckpt(3, 1)}`);

    const none = topK({ saveTopK: 0, saveLast: true, dirpath: `${maxRoot}/none` });
    await run(ctx, maxRoot, none, scores);
    expect(await listNames(ctx, `${maxRoot}/none`)).toEqual(['last.ckpt']);
    expect(none.bestModelPath).toBe('');
  });

  it('without monitor, saveTopK 1 keeps only the newest checkpoint', async () => {
    const root = await ctx.root();
    const cb = new ModelCheckpoint({ dirpath: `${root}/plain` });
    await run(ctx, root, cb, scores);
    expect(await listNames(ctx, `${root}/plain`)).toEqual(['epoch=4-step=10.ckpt']);
    expect(cb.bestModelPath).toBe(`${root}/plain/epoch=4-step=10.ckpt`);
  });

  it("saveLast 'link' without symlinks: 'last' equals the newest top-k checkpoint", async () => {
    const root = await ctx.root();
    const cb = new ModelCheckpoint({ dirpath: `${root}/link`, saveTopK: -1, saveLast: 'link' });
    await run(ctx, root, cb, [0, 0, 0]);
    expect(await listNames(ctx, `${root}/link`)).toEqual(['epoch=0-step=2.ckpt', 'epoch=1-step=4.ckpt', 'epoch=2-step=6.ckpt', 'last.ckpt']);
    const last = await loadCheckpoint(`${root}/link/last.ckpt`, { storageOptions: ctx.storageOptions });
    expect(last.global_step).toBe(6);
  });

  it('everyNTrainSteps and everyNEpochs', async () => {
    const root = await ctx.root();
    const steps = new ModelCheckpoint({ dirpath: `${root}/steps`, everyNTrainSteps: 3, saveTopK: -1 });
    const epochs = new ModelCheckpoint({ dirpath: `${root}/epochs`, everyNEpochs: 2, saveTopK: -1 });
    const trainer = new Trainer(options(ctx, root, { maxEpochs: 5, callbacks: [steps, epochs] }));
    await trainer.fit(new ScriptedModule(scores), { datamodule: tinyData() });
    expect(await listNames(ctx, `${root}/steps`)).toEqual(['epoch=1-step=3.ckpt', 'epoch=2-step=6.ckpt', 'epoch=4-step=9.ckpt']);
    expect(await listNames(ctx, `${root}/epochs`)).toEqual(['epoch=1-step=4.ckpt', 'epoch=3-step=8.ckpt']);
  });

  it('saveWeightsOnly writes weights without training state, and resuming from it names the problem', async () => {
    const root = await ctx.root();
    const cb = new ModelCheckpoint({ dirpath: `${root}/weights`, saveWeightsOnly: true });
    await run(ctx, root, cb, [1, 2]);
    const url = `${root}/weights/epoch=1-step=4.ckpt`;
    const saved = await loadCheckpoint(url, { storageOptions: ctx.storageOptions });
    expect(Object.keys(saved).sort()).toEqual(['ClassificationDataModule', 'datamodule_hyper_parameters', 'epoch', 'global_step', 'hyper_parameters', 'loops', 'state_dict', 'strata_version']);
    const module = new ScriptedModule([1, 2, 3]);
    const trainer = new Trainer(options(ctx, root, { maxEpochs: 3, enableCheckpointing: false }));
    await expect(trainer.fit(module, { datamodule: tinyData(), ckptPath: url })).rejects.toThrow(/only model weights.*weightsOnly|saveWeightsOnly/);
    // The weights themselves load fine.
    const fresh = new ScriptedModule([1]);
    expect(fresh.loadStateDict(saved.state_dict as never)).toEqual({ missingKeys: [], unexpectedKeys: [] });
  });

  it("resolves 'last' and 'best' in a fresh Trainer by listing the checkpoint directory", async () => {
    const root = await ctx.root();
    const first = topK({ saveLast: true });
    await run(ctx, root, first, scores.slice(0, 4));
    const dir = `${root}/checkpoints`;

    const fromLast = await run(ctx, root, topK({ saveLast: true }), [...scores, 9], {}, 'last');
    expect(fromLast.ckptPath).toBe(`${dir}/last.ckpt`);

    // A fresh trainer (nothing in memory) finds 'best' through the newest checkpoint's callback state.
    const bestTrainer = new Trainer(options(ctx, root, { maxEpochs: 6, callbacks: [topK({ saveLast: true })] }));
    await bestTrainer.fit(new ScriptedModule([...scores, 9]), { datamodule: tinyData(), ckptPath: 'best' });
    expect(bestTrainer.ckptPath).toBe(`${dir}/${ckpt(3, 1)}`);

    // Two "last" files: the one written last wins (it also has the higher global step here; the
    // same-second tie-break is tested on local disk, where mtimes can be set).
    const newest = await loadCheckpoint(`${dir}/last.ckpt`, { storageOptions: ctx.storageOptions });
    expect(newest.global_step).toBe(12);
    const older = await loadCheckpoint(`${dir}/${ckpt(3, 1)}`, { storageOptions: ctx.storageOptions });
    await saveCheckpoint(older, `${dir}/last.ckpt`, { storageOptions: ctx.storageOptions });
    await saveCheckpoint(newest, `${dir}/last-v1.ckpt`, { storageOptions: ctx.storageOptions });
    const third = await run(ctx, root, topK({ saveLast: true }), [...scores, 9, 9], {}, 'last');
    expect(third.ckptPath).toBe(`${dir}/last-v1.ckpt`);
    expect(third.globalStep).toBe(14);
  });

  it("'last' with no checkpoint starts from scratch with a warning", async () => {
    const root = await ctx.root();
    const trainer = await run(ctx, root, topK(), [1], {}, 'last');
    expect(trainer.ckptPath).toBeUndefined();
    expect(trainer.warnings.some((w) => w.includes("'last'"))).toBe(true);
    expect(trainer.globalStep).toBe(2);
  });

  it('restores its own state on resume and keeps ranking across runs', async () => {
    const root = await ctx.root();
    const first = topK({ saveLast: true });
    await run(ctx, root, first, [5, 3, 4]);
    const dir = `${root}/checkpoints`;
    expect(await listNames(ctx, dir)).toEqual([ckpt(1, 3), ckpt(2, 4), 'last.ckpt'].sort());

    const second = topK({ saveLast: true });
    // Epoch 3 scores 3.5: better than the kth (4), so epoch 2's file goes; epoch 4 scores 6: kept out.
    await run(ctx, root, second, [5, 3, 4, 3.5, 6], {}, `${dir}/last.ckpt`);
    expect(second.bestModelPath).toBe(`${dir}/${ckpt(1, 3)}`);
    expect(second.bestKModels).toEqual({ [`${dir}/${ckpt(1, 3)}`]: 3, [`${dir}/${ckpt(3, 3.5)}`]: 3.5 });
    expect(await listNames(ctx, dir)).toEqual([ckpt(1, 3), ckpt(3, 3.5), 'last.ckpt'].sort());
  });

  it('never deletes the checkpoint the run resumed from, nor files outside dirpath', async () => {
    const root = await ctx.root();
    const dir = `${root}/checkpoints`;
    const first = new ModelCheckpoint({ monitor: 'score', filename: '{epoch}-{step}-{score:.2f}', saveTopK: 1 });
    await run(ctx, root, first, [5, 4]);
    const resumedFrom = `${dir}/${ckpt(1, 4)}`;
    expect(await listNames(ctx, dir)).toEqual([ckpt(1, 4)]);

    // Resume from the best file; a better score would normally replace (delete) it.
    const second = new ModelCheckpoint({ monitor: 'score', filename: '{epoch}-{step}-{score:.2f}', saveTopK: 1 });
    const trainer = await run(ctx, root, second, [5, 4, 1], {}, resumedFrom);
    expect(trainer.ckptPath).toBe(resumedFrom);
    expect(second.bestModelPath).toBe(`${dir}/${ckpt(2, 1)}`);
    expect(await exists(ctx, resumedFrom)).toBe(true);

    // A state whose top-k list names files outside dirpath (a sibling directory with the same prefix).
    const outside = `${root}/checkpoints-old/precious.ckpt`;
    const crafted = await loadCheckpoint(`${dir}/${ckpt(2, 1)}`, { storageOptions: ctx.storageOptions });
    const state = (crafted.callbacks as Record<string, Record<string, unknown>>)[second.stateKey]!;
    state.best_k_models = { [outside]: 0.5 };
    state.kth_best_model_path = outside;
    state.kth_value = 0.5;
    state.best_model_path = outside;
    state.best_model_score = 0.5;
    await saveCheckpoint(crafted, `${root}/crafted.ckpt`, { storageOptions: ctx.storageOptions });
    await saveCheckpoint({ precious: true }, outside, { storageOptions: ctx.storageOptions });
    const third = new ModelCheckpoint({ monitor: 'score', filename: '{epoch}-{step}-{score:.2f}', saveTopK: 1 });
    await run(ctx, root, third, [5, 4, 1, 0.1], {}, `${root}/crafted.ckpt`);
    expect(third.bestModelPath).toBe(`${dir}/${ckpt(3, 0.1)}`);
    expect(await exists(ctx, outside)).toBe(true);
  });
}
