import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '@strata/checkpoint';
import { urlToFs } from '@strata/fs-core';
import { ModelCheckpoint, Trainer } from '../src/index.js';
import { freshRoot, makeDataModule, makeMlp, quietOptions } from './helpers.js';

describe('training end to end', () => {
  it('fits the MLP on memory://, learns, and writes checkpoints under <root>/checkpoints', async () => {
    const { root } = await freshRoot('memory');
    const module = makeMlp({ optimizer: 'adam', lr: 0.02 });
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 4, callbacks: [new ModelCheckpoint({ monitor: 'val_loss', saveLast: true, saveTopK: 2 })] }));
    await trainer.fit(module, { datamodule: makeDataModule() });
    expect(trainer.globalStep).toBe(4 * 10);
    expect(trainer.callbackMetrics.val_acc).toBeGreaterThan(0.8);
    const { fs } = await urlToFs(root);
    const files = (await fs.ls(`${root}/checkpoints`)).map((f) => f.name.split('/').pop());
    expect(files).toContain('last.ckpt');
    expect(files.filter((f) => f !== 'last.ckpt')).toHaveLength(2);
    const ckpt = await loadCheckpoint(`${root}/checkpoints/last.ckpt`);
    expect(ckpt.global_step).toBe(40);
    expect(Object.keys(ckpt.state_dict as object).sort()).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
  });
});

describe('linear regression example', () => {
  it('recovers the true weights, with a per-step StepLR, and resumes mid-epoch exactly', async () => {
    const { LinearRegression, makeRegressionData, regressionLoader } = await import('../src/index.js');
    const { root } = await freshRoot('memory');
    const data = makeRegressionData({ samples: 256, features: 4, seed: 9, noise: 0.01 });
    const loaders = () => ({ trainDataloaders: regressionLoader(data, { batchSize: 32, shuffle: true }), valDataloaders: regressionLoader(data, { batchSize: 128 }) });
    const options = { inputSize: 4, seed: 0, lr: 0.1, momentum: 0.5, lrStepSize: 40, gamma: 0.5 };

    const straight = new LinearRegression(options);
    const straightTrainer = new Trainer(quietOptions(root, { maxSteps: 160, enableCheckpointing: false }));
    await straightTrainer.fit(straight, loaders());
    for (let i = 0; i < 4; i++) expect(straight.weight.data[i]).toBeCloseTo(data.trueWeight[i]!, 2);
    expect(straight.bias.data[0]).toBeCloseTo(data.trueBias[0]!, 2);
    expect(straightTrainer.callbackMetrics.val_loss).toBeLessThan(1e-3);
    expect(straightTrainer.optimizers[0]!.paramGroups[0]!.hyper.lr).toBe(0.1 * 0.5 ** 4);

    const first = new Trainer(quietOptions(root, { maxSteps: 45, enableCheckpointing: false }));
    await first.fit(new LinearRegression(options), loaders());
    await first.saveCheckpoint(`${root}/lr.ckpt`);
    const resumed = new LinearRegression({ ...options, seed: 1 });
    await new Trainer(quietOptions(root, { maxSteps: 160, enableCheckpointing: false })).fit(resumed, { ...loaders(), ckptPath: `${root}/lr.ckpt` });
    expect(Buffer.from(resumed.weight.data.buffer).equals(Buffer.from(straight.weight.data.buffer))).toBe(true);
    expect(Buffer.from(resumed.bias.data.buffer).equals(Buffer.from(straight.bias.data.buffer))).toBe(true);
  });
});
