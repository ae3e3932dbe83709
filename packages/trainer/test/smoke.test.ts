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
