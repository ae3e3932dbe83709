import { existsSync } from 'node:fs';
import { lstat, readlink, rm, utimes } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AsyncCheckpointIO, FsCheckpointIO, loadCheckpoint } from '@strata/checkpoint';
import { filesystem, TimeoutError, type FileSystem, type WriteHandle } from '@strata/fs-core';
import { Callback, formatCheckpointName, ModelCheckpoint, Trainer, type Module } from '../src/index.js';
import { checkpointNamePattern, formatNumber } from '../src/format.js';
import { listNames, ScriptedModule, tinyData } from './checkpoint-cases.js';
import { freshRoot, makeMlp, quietOptions } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('checkpoint file names', () => {
  it('formats Lightning templates', () => {
    expect(formatCheckpointName('{epoch}-{step}-{val_loss:.2f}', { epoch: 1, step: 20, val_loss: 0.1234 })).toBe('epoch=1-step=20-val_loss=0.12');
    expect(formatCheckpointName('{epoch:03d}-{val_loss:.3e}', { epoch: 7, val_loss: 0.000123456 })).toBe('epoch=007-val_loss=1.235e-04');
    expect(formatCheckpointName('best-{val/acc:.1%}', { 'val/acc': 0.9876 })).toBe('best-val/acc=98.8%');
    expect(formatCheckpointName('{epoch}_{missing:.2f}', { epoch: 2 }, false)).toBe('2_0.00');
    expect(formatCheckpointName('{val_loss:+.1f}|{val_loss:>8.2f}', { val_loss: -Infinity })).toBe('val_loss=-inf|val_loss=    -inf');
    const cb = new ModelCheckpoint({ dirpath: 's3://bucket/run/ckpts/', filename: '{epoch}-{step}-{val_loss:.2f}' });
    cb.setup({ defaultRootDir: '/unused' } as Trainer);
    expect(cb.formatCheckpointName({ epoch: 1, step: 20, val_loss: 0.12 })).toBe('s3://bucket/run/ckpts/epoch=1-step=20-val_loss=0.12.ckpt');
    expect(cb.formatCheckpointName({ epoch: 1, step: 20, val_loss: 0.12 }, undefined, 2)).toBe('s3://bucket/run/ckpts/epoch=1-step=20-val_loss=0.12-v2.ckpt');
  });

  it("rounds and pads numbers as Python's format() does, so file names match Lightning's", () => {
    // Expected values are Python 3.11's format(value, spec). JS's toFixed/toExponential round exact
    // ties up (0.125 → 0.13); Python rounds them to even.
    const python: [number, string, string][] = [
      [0.125, '.2f', '0.12'],
      [0.625, '.2f', '0.62'],
      [0.375, '.2f', '0.38'],
      [2.5, '.0f', '2'],
      [1.5, '.0f', '2'],
      [1.25, '.1f', '1.2'],
      [2.675, '.2f', '2.67'],
      [0.125, '.1e', '1.2e-01'],
      [9.5, '.0e', '1e+01'],
      [2.5, '.1g', '2'],
      [15.5, '.2g', '16'],
      [9.9999995, '.6g', '10'],
      [0.00012345, '.3g', '0.000123'],
      [123456, '.3g', '1.23e+05'],
      [1000000, 'g', '1e+06'],
      [0.375, '.2%', '37.50%'],
      [1e22, '.1f', '10000000000000000000000.0'],
      [1e21, 'd', '1000000000000000000000'],
      [5e-324, '.3e', '4.941e-324'],
      [1, '.3', '1.0'],
      [123, '.2', '1.2e+02'],
      [422.33, '.3', '4.22e+02'],
      [2.5, '.1', '2e+00'],
      [88380, '.5', '8.838e+04'],
      [1.7976931348623157e308, '.2%', 'inf%'],
      [1e-7, '', '1e-07'],
      [1234.5, '010,.1f', '0,001,234.5'],
      [-1234.5, '010,.1f', '-001,234.5'],
      [1234567.25, '015,.2f', '0,001,234,567.25'],
      [123.456, '^12,.2f', '   123.46   '],
    ];
    for (const [value, spec, expected] of python) expect(formatNumber(value, spec), `format(${value}, '${spec}')`).toBe(expected);
    expect(formatCheckpointName('{epoch}-{val_acc:.2f}', { epoch: 3, val_acc: 0.125 })).toBe('epoch=3-val_acc=0.12');
  });

  it('checkpointNamePattern matches every name formatCheckpointName gives, and only those', () => {
    const names = (template: string, auto = true) =>
      [{ epoch: 3, step: 40, val_loss: 0.1234 }, { epoch: 12, step: 7, val_loss: NaN }, { epoch: 0, step: 0, val_loss: -Infinity }].map((m) => formatCheckpointName(template, m, auto));
    for (const [template, auto] of [['{epoch}-last', true], ['last-{epoch:03d}-{val_loss:.2e}', true], ['{epoch}_{step}.last', false], ['last', true]] as const) {
      const pattern = checkpointNamePattern(template, auto);
      for (const name of names(template, auto)) {
        expect(`${name}.ckpt`).toMatch(pattern);
        expect(`${name}-v2.ckpt`).toMatch(pattern);
        expect(`${name}.ckpt.tmp`).not.toMatch(pattern);
      }
    }
    expect('epoch=3-step=40.ckpt').not.toMatch(checkpointNamePattern('{epoch}-last'));
    expect('3-last.ckpt').not.toMatch(checkpointNamePattern('{epoch}-last'));
    expect('last.ckpt').not.toMatch(checkpointNamePattern('{epoch}-last'));
    expect('last-v1.ckpt').toMatch(checkpointNamePattern('last'));
  });

  it('rejects invalid configurations', () => {
    expect(() => new ModelCheckpoint({ saveTopK: 3 })).toThrow(/no quantity to rank/);
    expect(() => new ModelCheckpoint({ saveTopK: -2 })).toThrow(/saveTopK/);
    expect(() => new ModelCheckpoint({ everyNTrainSteps: 2, everyNEpochs: 1 })).toThrow(/mutually exclusive/);
  });

  it('adds a version suffix instead of overwriting a file of the same name', async () => {
    const { root } = await freshRoot('memory');
    for (let i = 0; i < 2; i++) {
      const trainer = new Trainer(quietOptions(root, { maxEpochs: 1, callbacks: [new ModelCheckpoint({ saveTopK: -1 })] }));
      await trainer.fit(new ScriptedModule([1]), { datamodule: tinyData() });
    }
    expect(await listNames({ root: async () => root }, `${root}/checkpoints`)).toEqual(['epoch=0-step=2-v1.ckpt', 'epoch=0-step=2.ckpt']);
  });
});

describe("ckptPath 'last' with a templated checkpointNameLast", () => {
  const lastNamed = (template: string, options: ConstructorParameters<typeof ModelCheckpoint>[0] = {}) => {
    const cb = new ModelCheckpoint({ saveLast: true, saveTopK: 0, ...options });
    cb.checkpointNameLast = template;
    return cb;
  };

  it('finds the files ModelCheckpoint names from the template and resumes from the newest', async () => {
    const { root } = await freshRoot('memory');
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [lastNamed('{epoch}-last')] }));
    await trainer.fit(makeMlp(), { datamodule: tinyData() });
    const dir = `${root}/checkpoints`;
    expect(await listNames({ root: async () => root }, dir)).toEqual(['epoch=1-last.ckpt']);
    // An older match, a newer match with a version suffix, and a newer file that is not a "last" one.
    await trainer.saveCheckpoint(`${dir}/epoch=0-last.ckpt`);
    const further = new Trainer(quietOptions(root, { maxSteps: 5, enableCheckpointing: false }));
    await further.fit(makeMlp(), { datamodule: tinyData(), ckptPath: `${dir}/epoch=1-last.ckpt` });
    await further.saveCheckpoint(`${dir}/epoch=2-last-v1.ckpt`);
    const newest = new Trainer(quietOptions(root, { maxSteps: 6, enableCheckpointing: false }));
    await newest.fit(makeMlp(), { datamodule: tinyData(), ckptPath: `${dir}/epoch=2-last-v1.ckpt` });
    await newest.saveCheckpoint(`${dir}/epoch=2-step=6.ckpt`);

    const resumed = new Trainer(quietOptions(root, { maxSteps: 7, callbacks: [lastNamed('{epoch}-last')] }));
    await resumed.fit(makeMlp(), { datamodule: tinyData(), ckptPath: 'last' });
    expect(resumed.ckptPath).toBe(`${dir}/epoch=2-last-v1.ckpt`);
  });

  it('follows format specs and autoInsertMetricName', async () => {
    const { root } = await freshRoot('memory');
    const cb = () => lastNamed('last-{epoch:03d}-{step}', { autoInsertMetricName: false });
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 1, callbacks: [cb()] }));
    await trainer.fit(makeMlp(), { datamodule: tinyData() });
    expect(await listNames({ root: async () => root }, `${root}/checkpoints`)).toEqual(['last-000-2.ckpt']);
    const resumed = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [cb()] }));
    await resumed.fit(makeMlp(), { datamodule: tinyData(), ckptPath: 'last' });
    expect(resumed.ckptPath).toBe(`${root}/checkpoints/last-000-2.ckpt`);
  });
});

describe('ModelCheckpoint on local disk', () => {
  it("saveLast 'link' makes last.ckpt a relative symlink to the newest top-k file", async () => {
    const { root, cleanup } = await freshRoot('file');
    try {
      const cb = new ModelCheckpoint({ saveTopK: 2, monitor: 'score', saveLast: 'link' });
      const trainer = new Trainer(quietOptions(root, { maxEpochs: 3, callbacks: [cb] }));
      await trainer.fit(new ScriptedModule([3, 2, 5]), { datamodule: tinyData() });
      const last = `${root}/checkpoints/last.ckpt`;
      expect((await lstat(last)).isSymbolicLink()).toBe(true);
      // Epoch 2 (score 5) was not in the top 2, so the newest top-k file is epoch 1's.
      expect(await readlink(last)).toBe('epoch=1-step=4.ckpt');
      expect(cb.lastModelPath).toBe(last);
      expect((await loadCheckpoint(last)).global_step).toBe(4);
      const resumed = new Trainer(quietOptions(root, { maxEpochs: 4, callbacks: [new ModelCheckpoint({ saveTopK: 2, monitor: 'score', saveLast: 'link' })] }));
      await resumed.fit(new ScriptedModule([3, 2, 5, 1]), { datamodule: tinyData(), ckptPath: 'last' });
      expect(resumed.ckptPath).toBe(last);
      expect(await readlink(last)).toBe('epoch=3-step=8.ckpt');
    } finally {
      await cleanup();
    }
  });
});

describe("saveLast 'link' and top-k eviction on local disk", () => {
  it("re-points last.ckpt before deleting the file it named, so a crash in between leaves no dangling link; 'last' skips one", async () => {
    const { root, cleanup } = await freshRoot('file');
    try {
      const last = `${root}/checkpoints/last.ckpt`;
      const danglingAfterRemoval: string[] = [];
      // What a crash right after each removal would leave: does last.ckpt still resolve?
      class Watching extends FsCheckpointIO {
        override async removeCheckpoint(url: string): Promise<void> {
          await super.removeCheckpoint(url);
          if (!existsSync(last)) danglingAfterRemoval.push(url);
        }
      }
      const cb = new ModelCheckpoint({ saveTopK: 1, monitor: 'score', saveLast: 'link' });
      const trainer = new Trainer(quietOptions(root, { maxEpochs: 3, checkpointIO: new Watching(), callbacks: [cb] }));
      await trainer.fit(new ScriptedModule([3, 2, 1]), { datamodule: tinyData() });
      expect(danglingAfterRemoval).toEqual([]);
      expect(await readlink(last)).toBe('epoch=2-step=6.ckpt');

      // A dangling last.ckpt (left by an older Strata) is skipped with a warning, not a crash.
      await rm(`${root}/checkpoints/epoch=2-step=6.ckpt`);
      const warnings: string[] = [];
      const resumed = new Trainer({ ...quietOptions(root, { maxEpochs: 3, callbacks: [new ModelCheckpoint({ saveTopK: 1, monitor: 'score', saveLast: 'link' })] }), onWarning: (m) => warnings.push(m) });
      await resumed.fit(new ScriptedModule([3, 2, 1]), { datamodule: tinyData(), ckptPath: 'last' });
      expect(resumed.ckptPath).toBeUndefined();
      expect(warnings.some((w) => w.includes(`Skipping ${last}`))).toBe(true);
    } finally {
      await cleanup();
    }
  });
});

describe("ckptPath 'last' when reading the last file fails", () => {
  it('throws on a transient failure instead of training from scratch over the checkpoints', async () => {
    const { root } = await freshRoot('memory');
    const first = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [new ModelCheckpoint({ saveLast: true })] }));
    await first.fit(makeMlp(), { datamodule: tinyData() });
    class FlakyLoads extends FsCheckpointIO {
      override async loadCheckpoint(): Promise<Record<string, unknown>> {
        throw new TimeoutError({ path: 'last.ckpt', protocol: 'memory' });
      }
    }
    const resumed = new Trainer(quietOptions(root, { maxEpochs: 4, checkpointIO: new FlakyLoads(), callbacks: [new ModelCheckpoint({ saveLast: true })] }));
    await expect(resumed.fit(makeMlp(), { datamodule: tinyData(), ckptPath: 'last' })).rejects.toBeInstanceOf(TimeoutError);
    expect(resumed.globalStep).toBe(0);
    expect((await loadCheckpoint(`${root}/checkpoints/last.ckpt`)).global_step).toBe(4);
  });
});

describe("ckptPath 'last' with last files of two runs", () => {
  it('resumes from the newest file, not from an older run that got further (Lightning picks the latest mtime)', async () => {
    const { root, cleanup } = await freshRoot('file');
    try {
      const dir = `${root}/checkpoints`;
      const longRun = new Trainer(quietOptions(root, { maxEpochs: 3, callbacks: [new ModelCheckpoint({ saveLast: true, saveTopK: 0 })] }));
      await longRun.fit(makeMlp(), { datamodule: tinyData() });
      const hourAgo = new Date(Date.now() - 3_600_000);
      await utimes(`${dir}/last.ckpt`, hourAgo, hourAgo);
      // A fresh, shorter run: its ModelCheckpoint versions the name beside the old last.ckpt.
      const freshRun = new Trainer(quietOptions(root, { maxEpochs: 1, callbacks: [new ModelCheckpoint({ saveLast: true, saveTopK: 0 })] }));
      await freshRun.fit(makeMlp(), { datamodule: tinyData() });
      expect((await loadCheckpoint(`${dir}/last.ckpt`)).global_step).toBeGreaterThan((await loadCheckpoint(`${dir}/last-v1.ckpt`)).global_step as number);

      const resumed = new Trainer(quietOptions(root, { maxEpochs: 2, callbacks: [new ModelCheckpoint({ saveLast: true, saveTopK: 0 })] }));
      await resumed.fit(makeMlp(), { datamodule: tinyData(), ckptPath: 'last' });
      expect(resumed.ckptPath).toBe(`${dir}/last-v1.ckpt`);

      // Within one second (object-store mtimes have no finer resolution) the higher global step wins.
      const sameSecond = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
      await utimes(`${dir}/last.ckpt`, sameSecond, new Date(sameSecond.getTime() + 100));
      await utimes(`${dir}/last-v1.ckpt`, sameSecond, new Date(sameSecond.getTime() + 900));
      const again = new Trainer(quietOptions(root, { maxEpochs: 4, callbacks: [new ModelCheckpoint({ saveLast: true, saveTopK: 0 })] }));
      await again.fit(makeMlp(), { datamodule: tinyData(), ckptPath: 'last' });
      expect(again.ckptPath).toBe(`${dir}/last.ckpt`);
    } finally {
      await cleanup();
    }
  });
});

describe('saveLast link with AsyncCheckpointIO on local disk', () => {
  it('points last.ckpt only at committed files', async () => {
    const { root, cleanup } = await freshRoot('file');
    try {
      const { fs, stats } = slowFileSystem(await filesystem('file'), 60);
      const last = `${root}/checkpoints/last.ckpt`;
      const dangling: number[] = [];
      class CheckLink extends Callback {
        override onTrainEpochStart(trainer: Trainer): void {
          // existsSync follows the link: false means last.ckpt names a file not written yet.
          if (trainer.currentEpoch > 0 && !existsSync(last)) dangling.push(trainer.currentEpoch);
        }
      }
      const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs }));
      const trainer = new Trainer(quietOptions(root, { maxEpochs: 4, checkpointIO: io, callbacks: [new CheckLink(), new ModelCheckpoint({ saveTopK: -1, saveLast: 'link' })] }));
      await trainer.fit(new ScriptedModule([1, 1, 1, 1]), { datamodule: tinyData() });
      expect(stats.commits).toBe(4);
      expect(dangling).toEqual([]);
      expect(await readlink(last)).toBe('epoch=3-step=8.ckpt');
    } finally {
      await cleanup();
    }
  });
});

describe('trainTimeInterval', () => {
  it('saves when the interval has passed since the last time-based save', async () => {
    let clock = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => clock);
    class Tick extends Callback {
      override onTrainBatchStart(): void {
        clock += 10; // every step "takes" 10 ms
      }
    }
    const { root } = await freshRoot('memory');
    const cb = new ModelCheckpoint({ trainTimeInterval: 35, saveTopK: -1, filename: '{step}' });
    const trainer = new Trainer(quietOptions(root, { maxSteps: 10, callbacks: [new Tick(), cb] }));
    await trainer.fit(new ScriptedModule([1, 1, 1, 1, 1]), { datamodule: tinyData() });
    expect(await listNames({ root: async () => root }, `${root}/checkpoints`)).toEqual(['step=4.ckpt', 'step=8.ckpt']);
  });
});

/** A memory filesystem whose write handles take `delayMs` to commit and report concurrency per path. */
function slowFileSystem(inner: FileSystem, delayMs: number) {
  const active = new Map<string, number>();
  const stats = { maxConcurrentPerPath: 0, commits: 0, inFlight: 0 };
  const fs = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'open') return Reflect.get(target, prop, receiver);
      return async (path: string, mode: 'rb' | 'wb' | 'xb', options?: object) => {
        const handle = await target.open(path, mode as 'wb', options);
        if (mode === 'rb') return handle;
        const count = (active.get(path) ?? 0) + 1;
        active.set(path, count);
        stats.inFlight += 1;
        stats.maxConcurrentPerPath = Math.max(stats.maxConcurrentPerPath, count);
        const done = () => {
          active.set(path, (active.get(path) ?? 1) - 1);
          stats.inFlight -= 1;
        };
        const wrapped: WriteHandle = Object.create(handle);
        wrapped.commit = async () => {
          await new Promise((r) => setTimeout(r, delayMs));
          try {
            await handle.commit();
            stats.commits += 1;
          } finally {
            done();
          }
        };
        wrapped.abort = async () => {
          try {
            await handle.abort();
          } finally {
            done();
          }
        };
        return wrapped;
      };
    },
  });
  return { fs, stats };
}

describe('ModelCheckpoint with AsyncCheckpointIO', () => {
  it('keeps training while saves are in flight, with at most one save per path at a time', async () => {
    const { root } = await freshRoot('memory');
    const { fs, stats } = slowFileSystem(await filesystem('memory'), 40);
    const io = new AsyncCheckpointIO(new FsCheckpointIO({ fs }));
    let stepsDuringSaves = 0;
    class Watch extends Callback {
      override onTrainBatchEnd(): void {
        if (stats.inFlight > 0) stepsDuringSaves += 1;
      }
    }
    class SlowStep extends ScriptedModule {
      override trainingStep(batch: Parameters<Module<any>['trainingStep']>[0]) {
        const until = performance.now() + 5;
        while (performance.now() < until); // a step that takes a little time, like real work
        return super.trainingStep(batch as never);
      }
    }
    const cb = new ModelCheckpoint({ everyNTrainSteps: 2, saveTopK: 2, monitor: 'train_loss', saveLast: true });
    const trainer = new Trainer(quietOptions(root, { maxSteps: 20, checkpointIO: io, callbacks: [new Watch(), cb] }));
    await trainer.fit(new SlowStep([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), { datamodule: tinyData() });
    expect(stepsDuringSaves).toBeGreaterThan(0);
    expect(stats.maxConcurrentPerPath).toBe(1);
    expect(stats.inFlight).toBe(0); // fit's teardown waited for the last save
    expect(stats.commits).toBeGreaterThanOrEqual(20);
    const last = await loadCheckpoint(`${root}/checkpoints/last.ckpt`);
    expect(last.global_step).toBe(20);
    expect(Object.keys(cb.bestKModels)).toHaveLength(2);
    const names = await listNames({ root: async () => root }, `${root}/checkpoints`);
    expect(names).toHaveLength(3);
  });
});
