import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { urlToFs } from '@strata/fs-core';
import { Adam, CSVLogger, DataLoader, ProgressBar, SGD, StepLR, Trainer, arrayDataset, tensorF32 } from '../src/index.js';
import { MetricsCollector } from '../src/metrics.js';
import { tinyData } from './checkpoint-cases.js';
import { freshRoot, makeMlp } from './helpers.js';

const f = Math.fround;

describe('optimizers', () => {
  it('SGD with momentum, dampening, weight decay and Nesterov follows torch.optim.SGD', () => {
    const p = tensorF32([2], [1, -2]);
    const sgd = new SGD({ w: p }, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    sgd.step({ w: new Float32Array([1, 0.5]) });
    // step 1: d = g + wd·p; buf = d; p -= lr·buf
    const d1 = [1 + 0.01 * 1, 0.5 + 0.01 * -2];
    const p1 = [f(1 - 0.1 * d1[0]!), f(-2 - 0.1 * d1[1]!)];
    expect([...p.data]).toEqual(p1);
    sgd.step({ w: new Float32Array([1, 0.5]) });
    const d2 = [1 + 0.01 * p1[0]!, 0.5 + 0.01 * p1[1]!];
    const buf2 = [f(0.9 * f(d1[0]!) + d2[0]!), f(0.9 * f(d1[1]!) + d2[1]!)];
    expect([...p.data]).toEqual([f(p1[0]! - 0.1 * buf2[0]!), f(p1[1]! - 0.1 * buf2[1]!)]);

    const q = tensorF32([1], [1]);
    const nesterov = new SGD({ q }, { lr: 0.5, momentum: 0.5, nesterov: true });
    nesterov.step({ q: new Float32Array([2]) }); // buf = 2, d = 2 + 0.5·2 = 3
    expect(q.data[0]).toBe(f(1 - 0.5 * 3));
    expect(() => new SGD({ q }, { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
  });

  it('Adam follows torch.optim.Adam (bias-corrected moments)', () => {
    const p = tensorF32([3], [0.5, -1, 2]);
    const adam = new Adam({ p }, { lr: 0.01, betas: [0.8, 0.9], eps: 1e-6 });
    const grads = [
      [0.1, -0.2, 0.3],
      [-0.4, 0.5, 0.05],
      [0.2, 0.2, -0.1],
    ];
    const expected = [0.5, -1, 2].map(f);
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    grads.forEach((g, t) => {
      adam.step({ p: new Float32Array(g) });
      const step = t + 1;
      for (let i = 0; i < 3; i++) {
        const gi = f(g[i]!);
        m[i] = f(0.8 * m[i]! + 0.2 * gi);
        v[i] = f(0.9 * v[i]! + 0.1 * gi * gi);
        const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - 0.9 ** step) + 1e-6;
        expected[i] = f(expected[i]! - ((0.01 / (1 - 0.8 ** step)) * m[i]!) / denom);
      }
      expect([...p.data]).toEqual(expected);
    });
    const sd = adam.stateDict();
    expect(sd.state['0']).toMatchObject({ step: 3 });
    expect(sd.param_groups[0]).toMatchObject({ lr: 0.01, betas: [0.8, 0.9], eps: 1e-6, params: [0], param_names: ['p'] });
  });

  it('round-trips state and refuses state that does not fit', () => {
    const a = tensorF32([2], [1, 2]);
    const b = tensorF32([3], [1, 2, 3]);
    const adam = new Adam([{ params: { a } }, { params: { b }, options: { lr: 0.5 } }], { lr: 0.1 });
    adam.step({ a: new Float32Array([1, 1]), b: new Float32Array([1, 1, 1]) });
    const saved = structuredClone(adam.stateDict());
    const a2 = tensorF32([2], [1, 2]);
    const b2 = tensorF32([3], [1, 2, 3]);
    const other = new Adam([{ params: { a: a2 } }, { params: { b: b2 } }], { lr: 0.1 });
    other.loadStateDict(saved);
    expect(other.paramGroups[1]!.hyper.lr).toBe(0.5);
    expect(other.stateDict()).toEqual(saved);
    const wrong = new Adam({ a: tensorF32([2]), b: tensorF32([3]) }, { lr: 0.1 });
    expect(() => wrong.loadStateDict(saved)).toThrow(/2 parameter groups/);
    const wrongShape = new Adam([{ params: { a: tensorF32([2]) } }, { params: { b: tensorF32([4]) } }], { lr: 0.1 });
    expect(() => wrongShape.loadStateDict(saved)).toThrow(/shape \[3\].*\[4\]/);
  });

  it('StepLR decays every stepSize steps and restores', () => {
    const opt = new SGD({ w: tensorF32([1]) }, { lr: 1 });
    const sched = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
    const lrs = [];
    for (let i = 0; i < 5; i++) {
      sched.step();
      lrs.push(opt.paramGroups[0]!.hyper.lr);
    }
    expect(lrs).toEqual([1, 0.5, 0.5, 0.25, 0.25]);
    const restored = new StepLR(new SGD({ w: tensorF32([1]) }, { lr: 1 }), { stepSize: 9 });
    restored.loadStateDict(sched.stateDict());
    expect(restored.stepSize).toBe(2);
    restored.step();
    expect(restored.getLastLr()).toEqual([0.125]);
  });
});

describe('DataLoader', () => {
  it('shuffles deterministically from (seed, epoch) and can start at any batch', () => {
    const loader = new DataLoader(arrayDataset([...Array(10).keys()]), { batchSize: 3, shuffle: true });
    expect(loader.length).toBe(4);
    loader.setEpoch(0, 42);
    const epoch0 = [...loader];
    loader.setEpoch(1, 42);
    const epoch1 = [...loader];
    expect(epoch0.flat().sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(epoch1).not.toEqual(epoch0);
    loader.setEpoch(0, 42);
    expect([...loader]).toEqual(epoch0);
    expect([...loader.batches(2)]).toEqual(epoch0.slice(2));
    loader.setEpoch(0, 43);
    expect([...loader]).not.toEqual(epoch0);
    const dropLast = new DataLoader(arrayDataset([...Array(10).keys()]), { batchSize: 3, dropLast: true });
    expect([...dropLast]).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  });
});

describe('metrics', () => {
  it('follows Lightning: step values now, epoch values reduced at the end, forked names for both', () => {
    const m = new MetricsCollector();
    m.log('train', 'loss', 2);
    m.log('train', 'acc', 0.5, { onStep: false, onEpoch: true });
    m.log('train', 'both', 1, { onEpoch: true });
    m.log('train', 'acc', 1, { onStep: false, onEpoch: true });
    m.log('train', 'both', 3, { onEpoch: true, progBar: true });
    expect(m.callbackMetrics).toEqual({ loss: 2, both: 3, both_step: 3 });
    expect(m.takeStepMetrics('train')).toEqual({ loss: 2, both_step: 3 });
    expect(m.endEpoch('train')).toEqual({ acc: 0.75, both_epoch: 2 });
    expect(m.callbackMetrics).toMatchObject({ acc: 0.75, both: 2, both_epoch: 2 });
    m.log('validate', 'val_loss', 1, { batchSize: 3 });
    m.log('validate', 'val_loss', 5, { batchSize: 1 });
    m.log('validate', 'val_max', 5, { reduceFx: 'max' });
    m.log('validate', 'val_max', 7, { reduceFx: 'max' });
    // batchSize weighs a mean only (Lightning's _ResultMetric): a sum adds the values as logged.
    m.log('validate', 'val_sum', 1, { reduceFx: 'sum', batchSize: 16 });
    m.log('validate', 'val_sum', 2, { reduceFx: 'sum', batchSize: 16 });
    expect(m.endEpoch('validate')).toEqual({ val_loss: 2, val_max: 7, val_sum: 3 });
    // Step values are kept per phase: validation's never reach a training row.
    m.log('validate', 'val_batch', 4, { onStep: true, onEpoch: false });
    m.log('train', 'loss', 1);
    expect(m.takeStepMetrics('train')).toEqual({ loss: 1 });
    expect(m.takeStepMetrics('validate')).toEqual({ val_batch: 4 });
    m.log('train', 'loss', 2);
    m.dropStepMetrics('train');
    expect(m.takeStepMetrics('train')).toEqual({});
    expect(m.callbackMetrics.loss).toBe(2);
  });
});

describe('CSV logger', () => {
  it('writes metrics.csv and hparams.json under defaultRootDir, a new version per run', async () => {
    const { root } = await freshRoot('memory');
    for (let run = 0; run < 2; run++) {
      const trainer = new Trainer({ defaultRootDir: root, maxEpochs: 2, enableProgressBar: false, logEveryNSteps: 1, enableCheckpointing: false });
      await trainer.fit(makeMlp(), { datamodule: tinyData() });
    }
    const { fs } = await urlToFs(root);
    expect((await fs.ls(`${root}/csv_logs`)).map((e) => e.name.split('/').pop())).toEqual(['version_0', 'version_1']);
    const csv = new TextDecoder().decode(await fs.cat(`${root}/csv_logs/version_1/metrics.csv`)).trim().split('\n');
    expect(csv[0]).toBe('step,epoch,train_acc,train_loss,val_acc,val_loss');
    expect(csv).toHaveLength(1 + 4 + 2 * 2); // 4 step rows, then per epoch: validation and train-epoch rows
    // Lightning's step column: the first batch's values are step 0; epoch and validation rows share
    // their epoch's last batch index (2 batches an epoch here).
    expect(csv.slice(1).map((row) => row.split(',').slice(0, 2).join(','))).toEqual(['0,0', '1,0', '1,0', '1,0', '2,1', '3,1', '3,1', '3,1']);
    const hparams = JSON.parse(new TextDecoder().decode(await fs.cat(`${root}/csv_logs/version_1/hparams.json`)));
    expect(hparams).toMatchObject({ hiddenSize: 16 });
  });

  it('resolves its version by listing, on any protocol', async () => {
    const { root } = await freshRoot('memory');
    const logger = new CSVLogger({ saveDir: root, name: 'exp', flushLogsEveryNSteps: 2 });
    await logger.logMetrics({ a: 1 }, 1);
    await logger.logMetrics({ 'b,"q"': 2 }, 2);
    const { fs } = await urlToFs(root);
    expect(new TextDecoder().decode(await fs.cat(`${root}/exp/version_0/metrics.csv`))).toBe('step,a,"b,""q"""\n1,1,\n2,,2\n');
  });
});

describe('progress bar', () => {
  function fakeTerminal(isTTY: boolean) {
    const stream = new PassThrough() as PassThrough & { isTTY: boolean; columns: number; cursorTo: () => boolean; clearLine: () => boolean; moveCursor: () => boolean };
    stream.isTTY = isTTY;
    stream.columns = 120;
    stream.cursorTo = () => true;
    stream.clearLine = () => true;
    stream.moveCursor = () => true;
    let output = '';
    stream.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    return { stream, output: () => output };
  }

  it('draws loss and steps/s on a terminal', async () => {
    const { root } = await freshRoot('memory');
    const term = fakeTerminal(true);
    const bar = new ProgressBar({ stream: term.stream as unknown as NodeJS.WriteStream, fps: 1000 });
    expect(bar.isEnabled).toBe(true);
    const trainer = new Trainer({ defaultRootDir: root, maxEpochs: 2, logger: false, enableCheckpointing: false, callbacks: [bar] });
    await trainer.fit(makeMlp(), { datamodule: tinyData() });
    expect(term.output()).toMatch(/Epoch 1 \|.*\| 2\/2 \| [\d.]+ steps\/s \| loss=\d+\.\d{4}.*val_loss=/);
  });

  it('stays silent when stdout is not a TTY', async () => {
    const { root } = await freshRoot('memory');
    const term = fakeTerminal(false);
    const bar = new ProgressBar({ stream: term.stream as unknown as NodeJS.WriteStream });
    expect(bar.isEnabled).toBe(false);
    const trainer = new Trainer({ defaultRootDir: root, maxEpochs: 1, logger: false, enableCheckpointing: false, callbacks: [bar] });
    await trainer.fit(makeMlp(), { datamodule: tinyData() });
    expect(term.output()).toBe('');
  });
});
