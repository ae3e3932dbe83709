import { describe, expect, it } from 'vitest';
import { FsCheckpointIO } from '@strata/checkpoint';
import { Callback, ClassificationDataModule, SGD, StepLR, Trainer, type OptimizerConfig } from '../src/index.js';
import { freshRoot, makeMlp, quietOptions, smallData } from './helpers.js';

const MODULE_HOOKS = [
  'setup', 'teardown', 'configureModel', 'configureOptimizers', 'onFitStart', 'onFitEnd', 'onTrainStart', 'onTrainEnd',
  'onTrainEpochStart', 'onTrainEpochEnd', 'onTrainBatchStart', 'onTrainBatchEnd', 'trainingStep', 'validationStep',
  'onValidationStart', 'onValidationEnd', 'onValidationEpochStart', 'onValidationEpochEnd', 'onValidationBatchStart',
  'onValidationBatchEnd', 'onBeforeOptimizerStep', 'onSaveCheckpoint', 'onLoadCheckpoint', 'stateDict', 'loadStateDict',
] as const;
const CALLBACK_HOOKS = [
  'setup', 'teardown', 'onFitStart', 'onFitEnd', 'onTrainStart', 'onTrainEnd', 'onTrainEpochStart', 'onTrainEpochEnd',
  'onTrainBatchStart', 'onTrainBatchEnd', 'onValidationStart', 'onValidationEnd', 'onValidationEpochStart', 'onValidationEpochEnd',
  'onValidationBatchStart', 'onValidationBatchEnd', 'onBeforeOptimizerStep', 'onException', 'onSaveCheckpoint', 'onLoadCheckpoint',
  'stateDict', 'loadStateDict',
] as const;
const DATAMODULE_HOOKS = ['prepareData', 'setup', 'teardown', 'trainDataloader', 'valDataloader', 'stateDict', 'loadStateDict'] as const;

/** Replaces each named method of `target` with one that logs `${label}.${name}` and calls through. */
function record(target: object, label: string, names: readonly string[], log: string[]): void {
  const t = target as Record<string, (...a: unknown[]) => unknown>;
  for (const name of names) {
    const original = t[name]!.bind(target);
    t[name] = (...args: unknown[]) => {
      log.push(`${label}.${name}`);
      return original(...args);
    };
  }
}

class StatefulCallback extends Callback {
  constructor(readonly name: string) {
    super();
  }
  override get stateKey(): string {
    return `StatefulCallback[${this.name}]`;
  }
  override stateDict(): Record<string, unknown> {
    return { name: this.name };
  }
}

class RecordingIO extends FsCheckpointIO {
  constructor(private readonly log: string[]) {
    super();
  }
  override async saveCheckpoint(checkpoint: object, url: string): Promise<void> {
    this.log.push('io.saveCheckpoint');
    await super.saveCheckpoint(checkpoint, url);
  }
  override async loadCheckpoint(url: string, options?: Parameters<FsCheckpointIO['loadCheckpoint']>[1]) {
    this.log.push('io.loadCheckpoint');
    return super.loadCheckpoint(url, options);
  }
}

/** An MLP whose optimizer, scheduler and hyper-parameters also report when they are read or restored. */
function recordedSetup(log: string[]) {
  const module = makeMlp();
  Object.defineProperty(module, 'hparams', {
    get: () => {
      log.push('module.hparams');
      return { hidden: 16 };
    },
  });
  module.configureOptimizers = (): OptimizerConfig => {
    const optimizer = new SGD(module.namedParameters(), { lr: 0.1, momentum: 0.9 });
    const scheduler = new StepLR(optimizer, { stepSize: 1 });
    record(optimizer, 'optimizer', ['stateDict'], log);
    record(scheduler, 'scheduler', ['stateDict'], log);
    const loadOptimizer = optimizer.loadStateDict.bind(optimizer);
    optimizer.loadStateDict = (s) => {
      log.push(`optimizer.loadStateDict(globalStep=${module.trainer?.globalStep})`);
      loadOptimizer(s);
    };
    const loadScheduler = scheduler.loadStateDict.bind(scheduler);
    scheduler.loadStateDict = (s) => {
      log.push('scheduler.loadStateDict');
      loadScheduler(s);
    };
    return { optimizer, lrScheduler: scheduler };
  };
  record(module, 'module', MODULE_HOOKS, log);
  const originalOnFitStart = module.onFitStart;
  module.onFitStart = () => {
    log.push(`(globalStep at onFitStart=${module.trainer?.globalStep})`);
    return originalOnFitStart();
  };
  const datamodule = new ClassificationDataModule({ ...smallData, samples: 40, batchSize: 16, valFraction: 0.25 });
  record(datamodule, 'dm', DATAMODULE_HOOKS, log);
  const a = new StatefulCallback('a');
  const b = new StatefulCallback('b');
  record(a, 'cbA', CALLBACK_HOOKS, log);
  record(b, 'cbB', CALLBACK_HOOKS, log);
  return { module, datamodule, callbacks: [a, b] };
}

describe('hook order', () => {
  it('runs the fit lifecycle in Lightning order', async () => {
    const { root } = await freshRoot('memory');
    const log: string[] = [];
    const { module, datamodule, callbacks } = recordedSetup(log);
    const trainer = new Trainer(quietOptions(root, { maxEpochs: 1, callbacks, enableCheckpointing: false }));
    await trainer.fit(module, { datamodule });
    const both = (hook: string) => [`cbA.${hook}`, `cbB.${hook}`, `module.${hook}`];
    const batch = () => [
      ...both('onTrainBatchStart'),
      'module.trainingStep',
      'cbA.onBeforeOptimizerStep', 'cbB.onBeforeOptimizerStep', 'module.onBeforeOptimizerStep',
      ...both('onTrainBatchEnd'),
    ];
    expect(log.filter((e) => !e.startsWith('(') && e !== 'module.hparams' && e !== 'module.stateDict')).toEqual([
      'dm.prepareData', 'dm.setup', 'cbA.setup', 'cbB.setup', 'module.setup', 'module.configureModel',
      'module.configureOptimizers',
      ...both('onFitStart'),
      // Requested by the fit loop, as Lightning's setup_data does.
      'dm.trainDataloader', 'dm.valDataloader',
      ...both('onTrainStart'),
      ...both('onTrainEpochStart'),
      ...batch(),
      ...batch(),
      ...both('onValidationStart'),
      ...both('onValidationEpochStart'),
      ...both('onValidationBatchStart'),
      'module.validationStep',
      ...both('onValidationBatchEnd'),
      ...both('onValidationEpochEnd'),
      ...both('onValidationEnd'),
      'cbA.onTrainEpochEnd', 'cbB.onTrainEpochEnd', 'module.onTrainEpochEnd',
      ...both('onTrainEnd'),
      ...both('onFitEnd'),
      'dm.teardown', 'cbA.teardown', 'cbB.teardown', 'module.teardown',
    ]);
  });

  it('saves in the order of issue 6 and loads in the order of issue 6', async () => {
    const { root } = await freshRoot('memory');
    const saveLog: string[] = [];
    const first = recordedSetup(saveLog);
    const trainer = new Trainer(quietOptions(root, { maxSteps: 3, callbacks: first.callbacks, enableCheckpointing: false, checkpointIO: new RecordingIO(saveLog) }));
    await trainer.fit(first.module, { datamodule: first.datamodule });
    saveLog.length = 0;
    const url = `${root}/ordered.ckpt`;
    await trainer.saveCheckpoint(url);
    expect(saveLog).toEqual([
      'module.stateDict', // 1. base dict (epoch, global_step, strata_version, state_dict, loops)
      'cbA.stateDict', 'cbB.stateDict', // 2. callback states
      'optimizer.stateDict', 'scheduler.stateDict', // 3. optimizers, then schedulers
      'module.hparams', 'module.hparams', // 4. hyper-parameters
      'dm.stateDict', // 5. datamodule state
      'cbA.onSaveCheckpoint', 'cbB.onSaveCheckpoint', // 6. callbacks' onSaveCheckpoint
      'module.onSaveCheckpoint', // 7. module's onSaveCheckpoint
      'io.saveCheckpoint', // 8. write through CheckpointIO
    ]);

    const loadLog: string[] = [];
    const second = recordedSetup(loadLog);
    const resumed = new Trainer(quietOptions(root, { maxSteps: 4, callbacks: second.callbacks, enableCheckpointing: false, checkpointIO: new RecordingIO(loadLog) }));
    await resumed.fit(second.module, { datamodule: second.datamodule, ckptPath: url });
    const start = loadLog.indexOf('io.loadCheckpoint');
    const end = loadLog.indexOf('scheduler.loadStateDict');
    expect(loadLog.slice(start, end + 1).filter((e) => e !== 'module.stateDict')).toEqual([
      'io.loadCheckpoint', // 1. load the dict
      'module.onLoadCheckpoint', // 2.
      'module.loadStateDict', // 3. with strict = module.strictLoading
      'dm.loadStateDict', // 4.
      'cbA.onLoadCheckpoint', 'cbB.onLoadCheckpoint', // 5.
      'cbA.loadStateDict', 'cbB.loadStateDict', // 6. by stateKey
      'module.configureOptimizers', // 7.
      'cbA.onFitStart', 'cbB.onFitStart', '(globalStep at onFitStart=0)', 'module.onFitStart', // 8.
      'optimizer.loadStateDict(globalStep=3)', // 9. loops restored (global step 3) before 10. optimizers
      'scheduler.loadStateDict', // 10. then schedulers
    ]);
    // Setup hooks come before the restore, training hooks after it.
    expect(loadLog.indexOf('module.setup')).toBeLessThan(start);
    expect(loadLog.indexOf('cbA.onTrainStart')).toBeGreaterThan(end);
    // The loaders come after the whole restore: they may depend on the restored datamodule state.
    expect(loadLog.indexOf('dm.trainDataloader')).toBeGreaterThan(end);
  });
});
