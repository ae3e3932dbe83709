import { describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint, splitKeyPath, StateDictMismatchError } from '@strata/checkpoint';
import { FineTuneClassifier, ModelCheckpoint, Trainer, tensorF32, type Tensor } from '../src/index.js';
import { tinyData } from './checkpoint-cases.js';
import { freshRoot, makeMlp, parameters, quietOptions } from './helpers.js';

/** Pretrains the full MLP, then builds the fine-tuning module from its fc1 (the "encoder"). */
async function pretrainedEncoder(root: string) {
  const pretrain = new Trainer(quietOptions(root, { maxEpochs: 2, enableCheckpointing: false }));
  await pretrain.fit(makeMlp({ hiddenSize: 8 }), { datamodule: tinyData() });
  const url = `${root}/pretrained.ckpt`;
  await pretrain.saveCheckpoint(url);
  // Read only the encoder's tensors: a partial, range-read load.
  const partial = await loadCheckpoint(url, { keys: (name) => splitKeyPath(name)[1]?.startsWith('fc1.') ?? false });
  const sd = partial.state_dict as Record<string, Tensor>;
  expect(Object.keys(sd).sort()).toEqual(['fc1.bias', 'fc1.weight']);
  return { weight: sd['fc1.weight']!, bias: sd['fc1.bias']! };
}

async function craft(url: string, target: string, edit: (sd: Record<string, Tensor>) => void): Promise<void> {
  const ckpt = await loadCheckpoint(url);
  edit(ckpt.state_dict as Record<string, Tensor>);
  await saveCheckpoint(ckpt, target);
}

describe('strict and partial loading', () => {
  it('a frozen pretrained encoder stays out of the checkpoint; strictLoading=false resumes, strict names the missing keys', async () => {
    const { root } = await freshRoot('memory');
    const encoder = await pretrainedEncoder(root);
    const fineTune = new FineTuneClassifier({ encoder, numClasses: 3, seed: 5 });
    expect(fineTune.strictLoading).toBe(false);
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [new ModelCheckpoint({ saveLast: true })] }));
    await trainer.fit(fineTune, { datamodule: tinyData() });
    const last = `${root}/checkpoints/last.ckpt`;
    const saved = await loadCheckpoint(last);
    expect(Object.keys(saved.state_dict as object).sort()).toEqual(['head.bias', 'head.weight']);

    // Non-strict (the module's default): resumes; the encoder keeps its pretrained values.
    const resumedModule = new FineTuneClassifier({ encoder, numClasses: 3, seed: 99 });
    const resumed = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [new ModelCheckpoint({ saveLast: true })] }));
    await resumed.fit(resumedModule, { datamodule: tinyData(), ckptPath: 'last' });
    expect(parameters(resumedModule)['head.weight']).toEqual(parameters(fineTune)['head.weight']);
    expect(parameters(resumedModule)['encoder.weight']).toEqual(encoder.weight.data);
    expect(resumedModule.loadStateDict(saved.state_dict as never)).toEqual({ missingKeys: ['encoder.weight', 'encoder.bias'], unexpectedKeys: [] });

    // Strict: fails and lists what is missing.
    const strictModule = new FineTuneClassifier({ encoder, numClasses: 3, seed: 99 });
    strictModule.strictLoading = true;
    const strict = new Trainer(quietOptions(root, { maxEpochs: 3, enableCheckpointing: false }));
    const error = await strict.fit(strictModule, { datamodule: tinyData(), ckptPath: last }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateDictMismatchError);
    expect((error as StateDictMismatchError).missingKeys).toEqual(['encoder.weight', 'encoder.bias']);
    expect((error as Error).message).toMatch(/missing keys: encoder.weight, encoder.bias/);

    // A strict MLP given the fine-tuning checkpoint: missing fc*, unexpected head.*.
    expect(() => makeMlp({ hiddenSize: 8 }).loadStateDict(saved.state_dict as never)).toThrow(
      /missing keys: fc1.weight, fc1.bias, fc2.weight, fc2.bias\. unexpected keys: head.weight, head.bias|missing keys: fc1.weight, fc1.bias, fc2.weight, fc2.bias. unexpected keys: head.bias, head.weight/,
    );
  });

  it('extra keys load only when not strict; a shape mismatch fails in both modes', async () => {
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 1, enableCheckpointing: false }));
    const module = makeMlp({ hiddenSize: 8 });
    await trainer.fit(module, { datamodule: tinyData() });
    const url = `${root}/base.ckpt`;
    await trainer.saveCheckpoint(url);

    const extra = `${root}/extra.ckpt`;
    await craft(url, extra, (sd) => {
      sd['projection.weight'] = tensorF32([2, 2], [1, 2, 3, 4]);
    });
    const strict = makeMlp({ hiddenSize: 8, seed: 3 });
    const strictTrainer = new Trainer(quietOptions(root, { maxEpochs: 2, enableCheckpointing: false }));
    await expect(strictTrainer.fit(strict, { datamodule: tinyData(), ckptPath: extra })).rejects.toThrow(/unexpected keys: projection.weight/);

    const lenient = makeMlp({ hiddenSize: 8, seed: 3 });
    lenient.strictLoading = false;
    const lenientTrainer = new Trainer(quietOptions(root, { maxEpochs: 1, enableCheckpointing: false }));
    await lenientTrainer.fit(lenient, { datamodule: tinyData(), ckptPath: extra });
    expect(parameters(lenient)).toEqual(parameters(module));

    const wrongShape = `${root}/wrong-shape.ckpt`;
    await craft(url, wrongShape, (sd) => {
      sd['fc2.bias'] = tensorF32([4], [0, 0, 0, 0]);
    });
    for (const strictLoading of [true, false]) {
      const m = makeMlp({ hiddenSize: 8, seed: 3 });
      m.strictLoading = strictLoading;
      const before = parameters(m);
      const t = new Trainer(quietOptions(root, { maxEpochs: 2, enableCheckpointing: false }));
      await expect(t.fit(m, { datamodule: tinyData(), ckptPath: wrongShape })).rejects.toThrow(/fc2.bias \(expected F32\[3\], got F32\[4\]\)/);
      expect(parameters(m)).toEqual(before); // nothing half-loaded
    }
  });
});
