import { setImmediate as nextTurn } from 'node:timers/promises';

import { FsCheckpointIO, type CheckpointIO } from '@strata/checkpoint';
import type { StorageOptions } from '@strata/fs-core';
import { Callback } from './callback.js';
import { resolveCheckpointPath } from './ckpt-path.js';
import type { Loader } from './data.js';
import type { DataModule } from './datamodule.js';
import { CSVLogger, type Logger } from './loggers.js';
import { MetricsCollector, type LogOptions, type LogPhase } from './metrics.js';
import { EarlyStopping } from './early-stopping.js';
import { ModelCheckpoint } from './model-checkpoint.js';
import type { LRSchedulerConfig, Module, OptimizerConfig, StepResult } from './module.js';
import { Optimizer } from './optim.js';
import { ProgressBar } from './progress.js';
import { LRScheduler } from './scheduler.js';
import type { CheckpointDict, LoopsState, Progress, ProgressCounters } from './types.js';
import { FileSystems, hasLocalRoot, normalizeUrl } from './urls.js';
import { STRATA_VERSION } from './version.js';

/** Hooks where Lightning refuses log(): nothing would carry the value to an epoch, a logger or a callback. */
const NO_LOGGING_HOOKS = new Set(['setup', 'teardown', 'onFitStart', 'onFitEnd', 'onTrainEnd', 'onValidationEnd', 'onSaveCheckpoint', 'onLoadCheckpoint']);
/** Training hooks outside any step, where Lightning's log() defaults to an epoch value. */
const EPOCH_LOGGING_HOOKS = new Set(['onTrainStart', 'onTrainEpochStart', 'onTrainEpochEnd']);

export interface TrainerOptions {
  /** Where checkpoints (`<root>/checkpoints`) and logs go. Any fs-core URL. Default `./strata_runs`. */
  defaultRootDir?: string;
  /** Stop after this many optimizer steps (-1: no limit). */
  maxSteps?: number;
  /** Stop after this many epochs (-1: no limit). Default 1000 when neither limit is set, like Lightning. */
  maxEpochs?: number;
  callbacks?: Callback[];
  /** Adds a default ModelCheckpoint when none is given (default true). */
  enableCheckpointing?: boolean;
  /** How checkpoints are written and read. Default: FsCheckpointIO with `storageOptions`. */
  checkpointIO?: CheckpointIO;
  /** fs-core storage options (keyed by protocol or flat) for every URL the trainer touches. */
  storageOptions?: StorageOptions;
  /** true (default): a CSVLogger under defaultRootDir. false: none. */
  logger?: boolean | Logger | Logger[];
  /** A terminal progress bar; shown only when stdout is a TTY (default true). */
  enableProgressBar?: boolean;
  /** Seeds the data order; shuffles derive from (seed, epoch). Default 0. */
  seed?: number;
  /** Validate every N batches of an epoch (of every training step with `checkValEveryNEpoch: null`), instead of at the epoch's end. */
  valCheckInterval?: number;
  /** Validate in every N-th epoch (default 1): at its end, or at its `valCheckInterval` batches. */
  checkValEveryNEpoch?: number | null;
  /** Use at most this many validation batches per run. */
  limitValBatches?: number;
  /** Send step metrics to the loggers every N steps (default 50). */
  logEveryNSteps?: number;
  /** Where warnings go (default console.warn). They are also kept in `trainer.warnings`. */
  onWarning?: (message: string) => void;
}

export type TrainerStatus = 'initializing' | 'running' | 'finished' | 'interrupted';

export interface FitOptions<Batch> {
  datamodule?: DataModule<Batch>;
  trainDataloaders?: Loader<Batch>;
  valDataloaders?: Loader<Batch>;
  /** Resume from a URL, or 'last' / 'best' (resolved through the ModelCheckpoint directory). */
  ckptPath?: string;
}

const emptyCounters = (): ProgressCounters => ({ ready: 0, started: 0, processed: 0, completed: 0 });
const emptyProgress = (): Progress => ({ total: emptyCounters(), current: emptyCounters() });
/** How often, at most, the loops hand the event loop a turn between steps (see letIoRun). */
const LET_IO_RUN_EVERY_MS = 5;

function bump(progress: Progress, field: keyof ProgressCounters): void {
  progress.total[field] += 1;
  progress.current[field] += 1;
}

/** Batches of one epoch with one batch of lookahead, so the loop knows which batch is the last. */
async function* lookahead<B>(loader: Loader<B>, startBatch: number): AsyncGenerator<{ batch: B; isLast: boolean }> {
  const l = loader as { batches?: (start: number) => Iterable<B> | AsyncIterable<B> };
  let source: Iterable<B> | AsyncIterable<B>;
  let skip = startBatch;
  if (typeof l.batches === 'function') {
    source = l.batches(startBatch);
    skip = 0;
  } else {
    source = loader as Iterable<B> | AsyncIterable<B>;
  }
  const iterator: AsyncIterator<B> | Iterator<B> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  try {
    let next = await iterator.next();
    for (; skip > 0 && !next.done; skip--) next = await iterator.next();
    while (!next.done) {
      const batch = next.value;
      next = await iterator.next();
      yield { batch, isLast: next.done === true };
    }
  } finally {
    await iterator.return?.();
  }
}

function sharedStateKeyMessage(stateKey: string): string {
  return `Two callbacks share the stateKey "${stateKey}"; give one a distinct stateKey so both states can be saved`;
}

function isLoaderWithLength(loader: unknown): loader is { length: number } {
  return typeof (loader as { length?: unknown }).length === 'number';
}

/**
 * Runs a Module through Lightning's fit lifecycle: hooks, optimizers and schedulers, validation,
 * logging, and checkpoints saved to and resumed from any fs-core URL.
 */
export class Trainer {
  readonly defaultRootDir: string;
  readonly maxSteps: number;
  readonly maxEpochs: number;
  readonly callbacks: Callback[];
  readonly checkpointIO: CheckpointIO;
  readonly storageOptions: StorageOptions | undefined;
  /** `storageOptions` confine local paths to a `file` root: relative run URLs start at its top. */
  readonly localRoot: boolean;
  readonly loggers: Logger[];
  readonly valCheckInterval: number | undefined;
  readonly checkValEveryNEpoch: number | null;
  readonly limitValBatches: number | undefined;
  readonly logEveryNSteps: number;
  readonly fileSystems: FileSystems;
  readonly warnings: string[] = [];
  seed: number;

  status: TrainerStatus = 'initializing';
  /** Set to true (e.g. from a callback) to stop after the current batch. */
  shouldStop = false;
  /** fit stopped (maxSteps, shouldStop) before the epoch's last batch; that epoch's end hooks do not run. */
  stoppedMidEpoch = false;
  currentEpoch = 0;
  globalStep = 0;
  /** The URL `fit` resumed from, once resolved. Top-k cleanup never deletes it. */
  ckptPath: string | undefined;
  module: Module<unknown> | undefined;
  datamodule: DataModule<unknown> | undefined;
  optimizers: Optimizer[] = [];
  lrSchedulerConfigs: Array<Required<Omit<LRSchedulerConfig, 'name'>> & { name?: string | undefined }> = [];
  /** Batches per training epoch, when the loader knows its length. */
  numTrainingBatches: number | undefined;
  /** True while the last batch of the epoch is being processed. */
  isLastBatch = false;
  /** Whether validation has run at least once in this fit. */
  validationHasRun = false;

  private readonly metrics = new MetricsCollector();
  private readonly seedGiven: boolean;
  private readonly onWarning: (message: string) => void;
  private phase: LogPhase = 'train';
  /** The hook running now (innermost), which decides what log() may do there. */
  private currentHook: string | undefined;
  private lastIoTurn = performance.now();
  private epochProgress = emptyProgress();
  private batchProgress = emptyProgress();
  private lastValidationStep = -1;
  private trainLoader: Loader<unknown> | undefined;
  private valLoader: Loader<unknown> | undefined;
  private readonly lossWindow: number[] = [];

  constructor(options: TrainerOptions = {}) {
    this.localRoot = hasLocalRoot(options.storageOptions);
    this.defaultRootDir = normalizeUrl(options.defaultRootDir ?? './strata_runs', this.localRoot);
    const stepsGiven = options.maxSteps !== undefined && options.maxSteps !== -1;
    this.maxSteps = options.maxSteps ?? -1;
    this.maxEpochs = options.maxEpochs ?? (stepsGiven ? -1 : 1000);
    this.storageOptions = options.storageOptions;
    this.fileSystems = new FileSystems(options.storageOptions);
    this.checkpointIO = options.checkpointIO ?? new FsCheckpointIO({ storageOptions: options.storageOptions });
    this.seedGiven = options.seed !== undefined;
    this.seed = options.seed ?? 0;
    this.valCheckInterval = options.valCheckInterval;
    this.checkValEveryNEpoch = options.checkValEveryNEpoch !== undefined ? options.checkValEveryNEpoch : 1;
    if (this.checkValEveryNEpoch === null && options.valCheckInterval === undefined) {
      // As Lightning: without epochs to count, validation needs a step interval.
      throw new RangeError('checkValEveryNEpoch: null needs valCheckInterval (validate every N training steps)');
    }
    this.limitValBatches = options.limitValBatches;
    this.logEveryNSteps = options.logEveryNSteps ?? 50;
    this.onWarning = options.onWarning ?? ((m) => console.warn(`[strata] ${m}`));
    if (this.valCheckInterval !== undefined && (!Number.isInteger(this.valCheckInterval) || this.valCheckInterval <= 0)) {
      throw new RangeError(`valCheckInterval must be a positive integer number of steps, got ${this.valCheckInterval}`);
    }

    const callbacks = [...(options.callbacks ?? [])];
    if ((options.enableCheckpointing ?? true) && !callbacks.some((c) => c instanceof ModelCheckpoint)) {
      callbacks.push(new ModelCheckpoint());
    }
    if (options.enableCheckpointing === false && callbacks.some((c) => c instanceof ModelCheckpoint)) {
      throw new Error('Trainer(enableCheckpointing: false) was given a ModelCheckpoint callback; remove one of the two');
    }
    if ((options.enableProgressBar ?? true) && !callbacks.some((c) => c instanceof ProgressBar)) {
      callbacks.unshift(new ProgressBar());
    }
    // Like Lightning, checkpoint callbacks run last so they see what every other callback did.
    this.callbacks = [...callbacks.filter((c) => !(c instanceof ModelCheckpoint)), ...callbacks.filter((c) => c instanceof ModelCheckpoint)];
    // As Lightning (_validate_callbacks_list): refused here, not at the first save after an epoch of training.
    const stateful = this.callbacks.filter((c) => c.stateDict !== Callback.prototype.stateDict);
    const shared = stateful.find((c, i) => stateful.findIndex((d) => d.stateKey === c.stateKey) !== i);
    if (shared) throw new Error(sharedStateKeyMessage(shared.stateKey));

    const logger = options.logger ?? true;
    this.loggers = logger === true ? [new CSVLogger()] : logger === false ? [] : Array.isArray(logger) ? logger : [logger];
  }

  /* ------------------------------------------------------------------ */
  /* Public views                                                        */
  /* ------------------------------------------------------------------ */

  get callbackMetrics(): Record<string, number> {
    return this.metrics.callbackMetrics;
  }

  get progressBarMetrics(): Record<string, number> {
    const loss = this.lossWindow.length ? this.lossWindow.reduce((a, b) => a + b, 0) / this.lossWindow.length : undefined;
    return { ...(loss === undefined ? {} : { loss }), ...this.metrics.progressBarMetrics };
  }

  get loggedMetrics(): Record<string, number> {
    return this.metrics.loggedMetrics;
  }

  get checkpointCallbacks(): ModelCheckpoint[] {
    return this.callbacks.filter((c): c is ModelCheckpoint => c instanceof ModelCheckpoint);
  }

  /** The first ModelCheckpoint, as Lightning's `trainer.checkpoint_callback`. */
  get checkpointCallback(): ModelCheckpoint | undefined {
    return this.checkpointCallbacks[0];
  }

  get logger(): Logger | undefined {
    return this.loggers[0];
  }

  get progressBar(): ProgressBar | undefined {
    return this.callbacks.find((c): c is ProgressBar => c instanceof ProgressBar);
  }

  /** Training batches completed in the current epoch. */
  get batchesCompletedInEpoch(): number {
    return this.batchProgress.current.completed;
  }

  /** Whether validation can run at all in this fit. */
  get hasValidation(): boolean {
    // As Lightning: limitValBatches 0, or a loader of no batches, turns validation off, hooks included.
    const loader = this.valLoader;
    if (loader === undefined || (isLoaderWithLength(loader) && loader.length === 0)) return false;
    return typeof this.module?.validationStep === 'function' && this.limitValBatches !== 0;
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.onWarning(message);
  }

  /** Called by `Module.log`. */
  logMetric(name: string, value: number, options: LogOptions = {}): void {
    const hook = this.currentHook;
    // As Lightning: a value logged there would reach no epoch, logger or callback, so it is an error.
    if (hook !== undefined && NO_LOGGING_HOOKS.has(hook)) throw new Error(`You can't log("${name}") inside ${hook}; log in a step or an epoch hook`);
    const epochDefault = hook !== undefined && EPOCH_LOGGING_HOOKS.has(hook) && this.phase === 'train';
    const resolved = epochDefault ? { ...options, onStep: options.onStep ?? false, onEpoch: options.onEpoch ?? true } : options;
    this.metrics.log(this.phase, name, value, resolved);
  }

  private async inHook(name: string, run: () => Promise<void>): Promise<void> {
    const outer = this.currentHook;
    this.currentHook = name;
    try {
      await run();
    } finally {
      this.currentHook = outer;
    }
  }

  /* ------------------------------------------------------------------ */
  /* fit                                                                 */
  /* ------------------------------------------------------------------ */

  async fit<Batch>(module: Module<Batch>, options: FitOptions<Batch> = {}): Promise<void> {
    this.module = module;
    this.datamodule = options.datamodule;
    module.trainer = this;
    this.status = 'running';
    this.shouldStop = false;
    this.stoppedMidEpoch = false;
    this.ckptPath = undefined;
    try {
      await this.runFit(module, options);
      this.status = 'finished';
    } catch (error) {
      this.status = 'interrupted';
      await this.handleException(module, error);
      throw error;
    } finally {
      await this.fileSystems.closeAll();
    }
  }

  private async runFit<Batch>(module: Module<Batch>, options: FitOptions<Batch>): Promise<void> {
    const dm = options.datamodule;
    if (dm) {
      await dm.prepareData();
      await dm.setup('fit');
    }
    for (const logger of this.loggers) await logger.setup?.(this);
    await this.callHook('setup', module, 'fit');
    await module.configureModel();

    if (!options.trainDataloaders && !dm) throw new Error('fit() needs training data: pass trainDataloaders or a datamodule');

    this.resetLoops();
    let checkpoint: CheckpointDict | undefined;
    if (options.ckptPath !== undefined) {
      const url = await resolveCheckpointPath(this, options.ckptPath);
      if (url !== undefined) {
        checkpoint = (await this.checkpointIO.loadCheckpoint(url)) as CheckpointDict;
        this.ckptPath = url;
        await this.restoreModulesAndCallbacks(module, checkpoint);
      }
    }

    this.configureOptimizers(module.configureOptimizers());

    await this.callHook('onFitStart', module);

    if (checkpoint) {
      this.restoreLoops(checkpoint);
      this.restoreOptimizersAndSchedulers(checkpoint);
    }
    for (const logger of this.loggers) await logger.logHyperparams?.(module.hparams);

    // Last, as in Lightning's fit loop: a datamodule may build its loaders from its restored state or in onFitStart.
    this.trainLoader = options.trainDataloaders ?? (await dm!.trainDataloader());
    this.valLoader = options.valDataloaders ?? (dm?.valDataloader ? await dm.valDataloader() : undefined);
    this.numTrainingBatches = isLoaderWithLength(this.trainLoader) ? this.trainLoader.length : undefined;
    // As Lightning's fit loop: an interval no epoch reaches would silently validate (and checkpoint) never.
    const batches = this.numTrainingBatches;
    if (this.valCheckInterval !== undefined && this.checkValEveryNEpoch !== null && batches !== undefined && this.valCheckInterval > batches && this.hasValidation) {
      throw new RangeError(
        `valCheckInterval (${this.valCheckInterval}) must be at most the number of training batches per epoch (${batches}); ` +
          'set checkValEveryNEpoch: null to count it in global steps, or limitValBatches: 0 to turn validation off',
      );
    }

    await this.trainLoop(module);

    // As Lightning: background saves are finished (or have failed) before onFitEnd sees them.
    await this.checkpointIO.teardown?.();
    await this.callHook('onFitEnd', module);
    for (const logger of this.loggers) await logger.finalize('success');
    // Lightning's teardown order: the datamodule, the callbacks, the module.
    await dm?.teardown('fit');
    await this.callHook('teardown', module, 'fit');
  }

  private async handleException(module: Module<unknown>, error: unknown): Promise<void> {
    const guard = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (inner) {
        this.warn(`${what} failed while handling an exception: ${(inner as Error).message}`);
      }
    };
    for (const cb of this.callbacks) await guard(`${cb.constructor.name}.onException`, () => cb.onException(this, module, error));
    if (this.datamodule) await guard('DataModule.onException', () => this.datamodule!.onException(error));
    // Let saves in flight commit: the last committed checkpoint must stay loadable for a resume.
    await guard('checkpointIO.teardown', () => this.checkpointIO.teardown?.());
    for (const logger of this.loggers) await guard('logger.finalize', () => logger.finalize('failed'));
    this.shouldStop = true;
  }

  /* ------------------------------------------------------------------ */
  /* Restore (Lightning's _CheckpointConnector order)                    */
  /* ------------------------------------------------------------------ */

  private async restoreModulesAndCallbacks(module: Module<unknown>, checkpoint: CheckpointDict): Promise<void> {
    await this.inHook('onLoadCheckpoint', async () => module.onLoadCheckpoint(checkpoint));
    if (!checkpoint.state_dict || typeof checkpoint.state_dict !== 'object') {
      throw new Error(`Checkpoint ${this.ckptPath} has no state_dict`);
    }
    module.loadStateDict(checkpoint.state_dict, { strict: module.strictLoading });

    const dm = this.datamodule;
    if (dm && Object.hasOwn(checkpoint, dm.stateKey)) {
      await dm.loadStateDict(checkpoint[dm.stateKey] as Record<string, unknown>);
    }

    const saved = checkpoint.callbacks;
    if (saved) {
      const current = new Set(this.callbacks.map((c) => c.stateKey));
      const orphans = Object.keys(saved).filter((k) => !current.has(k));
      if (orphans.length > 0) {
        this.warn(
          `The checkpoint holds state for callbacks this Trainer does not have; pass the callbacks used to create the checkpoint. Missing: ${orphans.join(', ')}`,
        );
      }
    }
    await this.inHook('onLoadCheckpoint', async () => {
      for (const cb of this.callbacks) await cb.onLoadCheckpoint(this, module, checkpoint);
    });
    if (saved) {
      for (const cb of this.callbacks) {
        const state = saved[cb.stateKey];
        if (state && Object.keys(state).length > 0) await cb.loadStateDict(structuredClone(state));
      }
    }
  }

  private restoreLoops(checkpoint: CheckpointDict): void {
    this.globalStep = Number(checkpoint.global_step ?? 0);
    const fit = checkpoint.loops?.fit_loop;
    if (fit) {
      this.epochProgress = structuredClone(fit.epoch_progress);
      this.batchProgress = structuredClone(fit.epoch_loop.batch_progress);
      this.lastValidationStep = fit.epoch_loop.last_validation_step ?? -1;
      if (fit.epoch_loop.results) this.metrics.loadStateDict(fit.epoch_loop.results);
      const { processed, completed } = this.epochProgress.current;
      // Saved from onTrainEpochEnd: the epoch's batches, validation and schedulers are done.
      if (processed > completed) {
        this.metrics.resetPhase('train');
        this.epochProgress.current.completed = processed;
        this.epochProgress.total.completed = this.epochProgress.total.processed;
        this.batchProgress.current = emptyCounters();
      }
      this.currentEpoch = this.epochProgress.current.completed;
      // A batch that was started but not completed is replayed.
      const done = this.batchProgress.current.completed;
      this.batchProgress.current = { ready: done, started: done, processed: done, completed: done };
      if (typeof fit.seed === 'number' && fit.seed !== this.seed) {
        if (this.seedGiven) {
          this.warn(`The checkpoint was trained with seed ${fit.seed} but this Trainer has seed ${this.seed}; the data order will not match the original run`);
        } else {
          this.seed = fit.seed;
        }
      }
    } else {
      this.currentEpoch = Number(checkpoint.epoch ?? 0);
    }
    if (this.maxEpochs !== -1 && this.currentEpoch > this.maxEpochs) {
      throw new Error(
        `You restored a checkpoint with epoch=${this.currentEpoch}, but the Trainer has maxEpochs=${this.maxEpochs}. Raise maxEpochs to continue training.`,
      );
    }
  }

  private restoreOptimizersAndSchedulers(checkpoint: CheckpointDict): void {
    const where = this.ckptPath ?? 'the checkpoint';
    // Every full checkpoint holds optimizer_states, an empty list for a manual-optimization module
    // without optimizers; as in Lightning, one without it cannot resume training.
    if (!checkpoint.optimizer_states) {
      throw new Error(
        `Cannot resume training from ${where}: it holds only model weights (saved with weightsOnly / ModelCheckpoint({ saveWeightsOnly: true })), no optimizer state. ` +
          'Load its weights with module.loadStateDict(ckpt.state_dict) and start a new fit, or resume from a full checkpoint.',
      );
    }
    if (checkpoint.optimizer_states.length !== this.optimizers.length) {
      throw new Error(`${where} holds ${checkpoint.optimizer_states.length} optimizer states but configureOptimizers returned ${this.optimizers.length} optimizers`);
    }
    checkpoint.optimizer_states.forEach((state, i) => this.optimizers[i]!.loadStateDict(state));
    const schedulers = checkpoint.lr_schedulers ?? [];
    if (schedulers.length !== this.lrSchedulerConfigs.length) {
      throw new Error(`${where} holds ${schedulers.length} LR scheduler states but configureOptimizers returned ${this.lrSchedulerConfigs.length} schedulers`);
    }
    schedulers.forEach((state, i) => this.lrSchedulerConfigs[i]!.scheduler.loadStateDict(state));
  }

  /* ------------------------------------------------------------------ */
  /* Optimizers                                                          */
  /* ------------------------------------------------------------------ */

  private configureOptimizers(config: OptimizerConfig): void {
    const optimizers: Optimizer[] = [];
    const schedulers: Array<LRScheduler | LRSchedulerConfig> = [];
    const addEntry = (entry: unknown) => {
      if (entry instanceof Optimizer) {
        optimizers.push(entry as Optimizer);
      } else if (entry && typeof entry === 'object' && 'optimizer' in entry) {
        const e = entry as { optimizer: Optimizer; lrScheduler?: LRScheduler | LRSchedulerConfig };
        optimizers.push(e.optimizer);
        if (e.lrScheduler) schedulers.push(e.lrScheduler);
      } else {
        throw new TypeError(`configureOptimizers returned something that is not an optimizer: ${String(entry)}`);
      }
    };
    if (config === null || config === undefined) {
      // No optimizer: the module updates itself (manual optimization) or only evaluates.
    } else if (Array.isArray(config) && config.length === 2 && Array.isArray(config[0]) && Array.isArray(config[1])) {
      (config[0] as Optimizer[]).forEach(addEntry);
      schedulers.push(...config[1]);
    } else if (Array.isArray(config)) {
      config.forEach(addEntry);
    } else {
      addEntry(config);
    }
    this.optimizers = optimizers;
    this.lrSchedulerConfigs = schedulers.map((s) => {
      const c: LRSchedulerConfig = s instanceof LRScheduler ? { scheduler: s } : s;
      if (!(c.scheduler instanceof LRScheduler)) throw new TypeError('lrScheduler must be an LRScheduler or { scheduler, interval, frequency }');
      if (!optimizers.includes(c.scheduler.optimizer)) throw new Error('An LR scheduler wraps an optimizer that configureOptimizers did not return');
      return { scheduler: c.scheduler, interval: c.interval ?? 'epoch', frequency: c.frequency ?? 1, name: c.name };
    });
    if (this.module?.automaticOptimization && optimizers.length === 0) {
      throw new Error('configureOptimizers returned no optimizer; return one, or set automaticOptimization = false and update the weights in trainingStep');
    }
  }

  /** `count` is 1-based: the epoch, or the batch within the epoch (as Lightning counts `frequency`). */
  private stepSchedulers(interval: 'epoch' | 'step', count: number): void {
    // With manual optimization the user steps the schedulers, as in Lightning.
    if (!this.module?.automaticOptimization) return;
    for (const c of this.lrSchedulerConfigs) {
      if (c.interval === interval && count % c.frequency === 0) c.scheduler.step();
    }
  }

  /* ------------------------------------------------------------------ */
  /* Loops                                                               */
  /* ------------------------------------------------------------------ */

  private resetLoops(): void {
    this.currentEpoch = 0;
    this.globalStep = 0;
    this.epochProgress = emptyProgress();
    this.batchProgress = emptyProgress();
    this.lastValidationStep = -1;
    this.validationHasRun = false;
    this.lossWindow.length = 0;
  }

  private get stepLimitReached(): boolean {
    return this.maxSteps !== -1 && this.globalStep >= this.maxSteps;
  }

  private get epochLimitReached(): boolean {
    return this.maxEpochs !== -1 && this.currentEpoch >= this.maxEpochs;
  }

  private get trainingDone(): boolean {
    return this.stepLimitReached || this.epochLimitReached || this.shouldStop;
  }

  private async callHook(name: string, module: Module<unknown>, ...args: unknown[]): Promise<void> {
    await this.inHook(name, async () => {
      for (const cb of this.callbacks) await (cb as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.call(cb, this, module, ...args);
      await (module as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.call(module, ...args);
    });
  }

  private stepValidationDue(): boolean {
    if (this.valCheckInterval === undefined) return false;
    // As Lightning: counted in global steps when checkValEveryNEpoch is null, else in batches of
    // the epochs it selects (so each epoch validates at the same batches).
    if (this.checkValEveryNEpoch === null) return this.globalStep > 0 && this.globalStep % this.valCheckInterval === 0;
    const batches = this.batchProgress.current.completed;
    return this.validatesInEpoch(this.currentEpoch) && batches > 0 && batches % this.valCheckInterval === 0;
  }

  /** Whether epoch `epoch` is one checkValEveryNEpoch selects for validation. */
  private validatesInEpoch(epoch: number): boolean {
    return this.checkValEveryNEpoch !== null && (epoch + 1) % this.checkValEveryNEpoch === 0;
  }

  private async trainLoop(module: Module<unknown>): Promise<void> {
    await this.callHook('onTrainStart', module);
    while (!this.trainingDone) {
      const resumingMidEpoch = this.batchProgress.current.completed > 0;
      if (!resumingMidEpoch) {
        this.batchProgress.current = emptyCounters();
        bump(this.epochProgress, 'ready');
      }
      const loader = this.trainLoader!;
      (loader as { setEpoch?: (e: number, s: number) => void }).setEpoch?.(this.currentEpoch, this.seed);
      this.phase = 'train';
      await this.callHook('onTrainEpochStart', module);
      if (!resumingMidEpoch) bump(this.epochProgress, 'started');
      // A checkpoint written in onTrainBatchEnd precedes the step's validation; run it now.
      if (resumingMidEpoch && this.stepValidationDue() && this.lastValidationStep !== this.globalStep) await this.runValidation(module);

      let exhausted = true;
      for await (const { batch, isLast } of lookahead(loader, this.batchProgress.current.completed)) {
        await this.trainBatch(module, batch, this.batchProgress.current.completed, isLast);
        await this.letIoRun();
        if (this.stepValidationDue() && this.lastValidationStep !== this.globalStep) await this.runValidation(module);
        if ((this.stepLimitReached || this.shouldStop) && !isLast) {
          exhausted = false;
          break;
        }
      }
      if (!exhausted) {
        await this.stopMidEpoch();
        break;
      }
      // Counts batches restored from a checkpoint too, so resuming after an epoch's last batch is not "empty".
      if (this.batchProgress.current.completed === 0) {
        // Another epoch would be just as empty: with only maxSteps set, the loop would never end.
        this.warn(`fit stopped: epoch ${this.currentEpoch} yielded no training batches`);
        break;
      }
      await this.endTrainEpoch(module);
    }
    await this.callHook('onTrainEnd', module);
  }

  /**
   * Gives the event loop a turn between steps. Synchronous steps that only await promises never let
   * it poll, so I/O callbacks (AsyncCheckpointIO's background saves, logger writes) would wait until
   * training stops or waits. At most once per LET_IO_RUN_EVERY_MS, so tiny steps pay next to nothing.
   */
  private async letIoRun(): Promise<void> {
    const now = performance.now();
    if (now - this.lastIoTurn < LET_IO_RUN_EVERY_MS) return;
    await nextTurn();
    this.lastIoTurn = performance.now();
  }

  private async trainBatch(module: Module<unknown>, batch: unknown, batchIdx: number, isLast: boolean): Promise<void> {
    this.isLastBatch = isLast;
    this.phase = 'train';
    bump(this.batchProgress, 'ready');
    await this.callHook('onTrainBatchStart', module, batch, batchIdx);
    bump(this.batchProgress, 'started');

    const output: StepResult = await module.trainingStep(batch, batchIdx);
    const loss = typeof output === 'number' ? output : output?.loss;
    if (typeof loss !== 'number') throw new TypeError('trainingStep must return the loss as a number or { loss, grads }');
    if (module.automaticOptimization) {
      const grads = typeof output === 'object' ? output.grads : undefined;
      if (!grads) throw new TypeError('trainingStep must return { loss, grads } when automaticOptimization is on');
      for (const optimizer of this.optimizers) {
        for (const cb of this.callbacks) await cb.onBeforeOptimizerStep(this, module, optimizer);
        await module.onBeforeOptimizerStep(optimizer);
        optimizer.step(grads);
      }
    }
    this.globalStep += 1;
    this.stepSchedulers('step', batchIdx + 1);
    // Lightning steps epoch-interval schedulers here, after the epoch's last optimizer step: its
    // onTrainBatchEnd, epoch-end validation and checkpoints already see the next epoch's rate.
    if (isLast) this.stepSchedulers('epoch', this.currentEpoch + 1);
    this.lossWindow.push(loss);
    if (this.lossWindow.length > 20) this.lossWindow.shift();
    bump(this.batchProgress, 'processed');
    bump(this.batchProgress, 'completed');

    await this.callHook('onTrainBatchEnd', module, output, batch, batchIdx);
    if (this.globalStep % this.logEveryNSteps === 0 || (this.stepLimitReached && this.loggers.length > 0)) {
      await this.logToLoggers(this.metrics.takeStepMetrics('train'));
    }
  }

  /**
   * The epoch's values so far reach callbackMetrics (a ModelCheckpoint saves there, as Lightning's
   * epoch-end save would) and pending step values the loggers; the loop state stays mid-epoch, so
   * resuming continues this epoch exactly.
   */
  private async stopMidEpoch(): Promise<void> {
    this.stoppedMidEpoch = true;
    this.metrics.reduceEpoch('train');
    await this.logToLoggers(this.metrics.takeStepMetrics('train'));
  }

  private async endTrainEpoch(module: Module<unknown>): Promise<void> {
    const epoch = this.currentEpoch;
    // With a step interval, validation runs at those batches only (Lightning: not at the epoch's end too).
    const epochEndValidation = this.valCheckInterval === undefined && this.validatesInEpoch(epoch);
    if (this.hasValidation && epochEndValidation && this.lastValidationStep !== this.globalStep) {
      await this.runValidation(module);
    }
    this.phase = 'train';
    bump(this.epochProgress, 'processed');
    this.metrics.reduceEpoch('train');
    // Lightning's order: plain callbacks, the module, then monitoring callbacks (EarlyStopping, then ModelCheckpoint).
    const isMonitoring = (c: Callback) => c instanceof ModelCheckpoint || c instanceof EarlyStopping;
    const [monitoring, plain]: [Callback[], Callback[]] = [this.callbacks.filter(isMonitoring), this.callbacks.filter((c) => !isMonitoring(c))];
    await this.inHook('onTrainEpochEnd', async () => {
      for (const cb of plain) await cb.onTrainEpochEnd(this, module);
      await module.onTrainEpochEnd();
    });
    // Reduced again so what those hooks logged reaches the monitoring callbacks and the loggers.
    const epochMetrics = this.metrics.endEpoch('train');
    await this.inHook('onTrainEpochEnd', async () => {
      for (const cb of monitoring) await cb.onTrainEpochEnd(this, module);
    });
    // As Lightning: the epoch's row holds epoch values; step values reach loggers only at log steps.
    this.metrics.dropStepMetrics('train');
    await this.logToLoggers(epochMetrics);
    bump(this.epochProgress, 'completed');
    this.currentEpoch += 1;
    this.batchProgress.current = emptyCounters();
  }

  private async runValidation(module: Module<unknown>): Promise<void> {
    if (!this.hasValidation) return;
    const loader = this.valLoader!;
    const previous = this.phase;
    this.phase = 'validate';
    this.metrics.resetPhase('validate');
    await this.callHook('onValidationStart', module);
    await this.callHook('onValidationEpochStart', module);
    (loader as { setEpoch?: (e: number, s: number) => void }).setEpoch?.(this.currentEpoch, this.seed);
    let index = 0;
    for await (const { batch } of lookahead(loader, 0)) {
      if (this.limitValBatches !== undefined && index >= this.limitValBatches) break;
      await this.callHook('onValidationBatchStart', module, batch, index);
      const out = await module.validationStep!(batch, index);
      await this.callHook('onValidationBatchEnd', module, out, batch, index);
      // As Lightning's evaluation loop: step values of a validation batch go out after it, at the
      // index of the batch in this run.
      await this.logToLoggers(this.metrics.takeStepMetrics('validate'), index);
      await this.letIoRun();
      index += 1;
    }
    this.metrics.reduceEpoch('validate');
    await this.callHook('onValidationEpochEnd', module);
    // Reduced again so what the epoch-end hooks logged reaches onValidationEnd (ModelCheckpoint) and the loggers.
    const valMetrics = this.metrics.endEpoch('validate');
    this.lastValidationStep = this.globalStep;
    // As Lightning's `_has_run`: a loader that turned out empty ran no step, so a metric it never logged only warns.
    if (index > 0) this.validationHasRun = true;
    await this.callHook('onValidationEnd', module);
    await this.logToLoggers(valMetrics);
    this.phase = previous;
  }

  private async logToLoggers(metrics: Record<string, number>, step = Math.max(0, this.globalStep - 1)): Promise<void> {
    if (Object.keys(metrics).length === 0) return;
    // Lightning's logger step (by default): the index of the batch that produced the values (0 for
    // the first), which epoch-end and validation rows share with their epoch's last batch.
    for (const logger of this.loggers) await logger.logMetrics({ ...metrics, epoch: this.currentEpoch }, step);
  }

  /** The `loops` entry of a checkpoint. */
  loopsStateDict(): LoopsState {
    return {
      fit_loop: {
        epoch_progress: structuredClone(this.epochProgress),
        epoch_loop: {
          batch_progress: { ...structuredClone(this.batchProgress), is_last_batch: this.isLastBatch },
          last_validation_step: this.lastValidationStep,
          results: this.metrics.stateDict(),
        },
        seed: this.seed,
      },
    };
  }

  /* ------------------------------------------------------------------ */
  /* Checkpoints                                                         */
  /* ------------------------------------------------------------------ */

  /** Builds the checkpoint dict in Lightning's order (see the README). */
  async dumpCheckpoint(weightsOnly = false): Promise<CheckpointDict> {
    const module = this.module;
    if (!module) throw new Error('saveCheckpoint needs a module: call it during or after fit()');
    const checkpoint: CheckpointDict = {
      epoch: this.currentEpoch,
      global_step: this.globalStep,
      strata_version: STRATA_VERSION,
      state_dict: { ...module.stateDict() },
      loops: this.loopsStateDict(),
    };
    if (!weightsOnly) {
      const callbacks: Record<string, Record<string, unknown>> = {};
      for (const cb of this.callbacks) {
        const state = cb.stateDict();
        if (!state || Object.keys(state).length === 0) continue;
        if (Object.hasOwn(callbacks, cb.stateKey)) {
          throw new Error(sharedStateKeyMessage(cb.stateKey));
        }
        callbacks[cb.stateKey] = state;
      }
      checkpoint.callbacks = callbacks;
      checkpoint.optimizer_states = this.optimizers.map((o) => o.stateDict());
      checkpoint.lr_schedulers = this.lrSchedulerConfigs.map((c) => c.scheduler.stateDict());
    }
    if (Object.keys(module.hparams).length > 0) checkpoint.hyper_parameters = structuredClone(module.hparams);
    const dm = this.datamodule;
    if (dm && Object.keys(dm.hparams).length > 0) checkpoint.datamodule_hyper_parameters = structuredClone(dm.hparams);
    if (dm) {
      const state = dm.stateDict();
      if (state && Object.keys(state).length > 0) checkpoint[dm.stateKey] = state;
    }
    await this.inHook('onSaveCheckpoint', async () => {
      if (!weightsOnly) {
        for (const cb of this.callbacks) await cb.onSaveCheckpoint(this, module, checkpoint);
      }
      await module.onSaveCheckpoint(checkpoint);
    });
    return checkpoint;
  }

  /** Saves a checkpoint of the current state to any fs-core URL through `checkpointIO`. */
  async saveCheckpoint(url: string, options: { weightsOnly?: boolean } = {}): Promise<void> {
    const checkpoint = await this.dumpCheckpoint(options.weightsOnly ?? false);
    await this.checkpointIO.saveCheckpoint(checkpoint, normalizeUrl(url, this.localRoot));
  }
}
