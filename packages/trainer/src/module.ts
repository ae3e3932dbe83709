import { loadStateDict as loadTensorsInto, type Tensor } from '@strata/checkpoint';
import type { LogOptions } from './metrics.js';
import type { Gradients, Optimizer } from './optim.js';
import type { LRScheduler } from './scheduler.js';
import { f32Values, type F32Tensor } from './tensor.js';
import type { Trainer } from './trainer.js';
import type { CheckpointDict, LoadStateDictResult } from './types.js';

/** What `trainingStep` returns: the loss and, under automatic optimization, a gradient per parameter name. */
export interface TrainingStepOutput {
  loss: number;
  grads?: Gradients;
  [extra: string]: unknown;
}

export type StepResult = number | TrainingStepOutput;

export interface LRSchedulerConfig {
  scheduler: LRScheduler;
  /** Step the scheduler after every epoch (default) or after every optimizer step. */
  interval?: 'epoch' | 'step';
  /** Step every `frequency` intervals (default 1). */
  frequency?: number;
  name?: string;
}

export interface OptimizerLRSchedulerConfig {
  optimizer: Optimizer;
  lrScheduler?: LRScheduler | LRSchedulerConfig;
}

/** Every shape Lightning's `configure_optimizers` may return, in camelCase. */
export type OptimizerConfig =
  | Optimizer
  | Optimizer[]
  | OptimizerLRSchedulerConfig
  | OptimizerLRSchedulerConfig[]
  | [Optimizer[], Array<LRScheduler | LRSchedulerConfig>]
  | null
  | undefined
  | void;

export type Awaitable<T> = T | Promise<T>;

/**
 * Base class of a trainable model (Lightning's LightningModule). It owns named F32 parameters,
 * computes its loss and gradients in `trainingStep`, and the Trainer applies them through the
 * optimizers from `configureOptimizers`. To wrap another engine (TensorFlow.js, ONNX, ...) set
 * `automaticOptimization = false`, run the engine's update in `trainingStep`, and implement
 * `stateDict`/`loadStateDict` to move its weights in and out as Tensors.
 */
export abstract class Module<Batch = unknown> {
  /** Fail on missing or unexpected keys when loading a checkpoint's `state_dict`. */
  strictLoading = true;
  /** When false the Trainer never calls an optimizer; `trainingStep` updates the weights itself. */
  automaticOptimization = true;
  /** Saved under `hyper_parameters`. */
  hparams: Record<string, unknown> = {};
  /** Set by the Trainer while it runs this module. */
  trainer: Trainer | undefined;

  private readonly registered = new Map<string, F32Tensor>();

  /** Registers a parameter under a dotted name (`encoder.weight`). Returns the tensor. */
  protected registerParameter(name: string, tensor: F32Tensor): F32Tensor {
    if (tensor.dtype !== 'F32' || !(tensor.data instanceof Float32Array)) throw new TypeError(`Parameter "${name}" must be an F32 tensor backed by a Float32Array`);
    this.registered.set(name, tensor);
    return tensor;
  }

  /** Every registered parameter, in registration order. */
  namedParameters(): Array<[string, F32Tensor]> {
    return [...this.registered];
  }

  /** Stores hyper-parameters so checkpoints carry them. */
  saveHyperparameters(hparams: Record<string, unknown>): void {
    this.hparams = structuredClone(hparams);
  }

  /** The tensors to checkpoint, by name. They are the live parameters, not copies. */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.registered);
  }

  /**
   * Copies `stateDict` into the parameters. The keys expected are every registered parameter plus
   * whatever `stateDict()` exposes, so a parameter left out of `stateDict()` (a frozen encoder) is
   * reported missing, as in PyTorch. Strict: missing or unexpected keys throw
   * StateDictMismatchError listing them. A shape or dtype mismatch throws in both modes.
   */
  loadStateDict(stateDict: Record<string, Tensor>, options: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = options.strict ?? this.strictLoading;
    const target: Record<string, Tensor> = { ...Object.fromEntries(this.registered), ...this.stateDict() };
    const before = new Map(Object.entries(target).map(([k, t]) => [k, t] as const));
    const result = loadTensorsInto(target, stateDict, { strict });
    // Keep parameters live: if the loader replaced entries instead of filling them, copy the values in.
    for (const [name, original] of before) {
      const now = target[name];
      if (now && now !== original && name in stateDict && original.data instanceof Float32Array) {
        original.data.set(f32Values(now, name));
      }
    }
    return { missingKeys: [...result.missingKeys], unexpectedKeys: [...result.unexpectedKeys] };
  }

  abstract trainingStep(batch: Batch, batchIdx: number): Awaitable<StepResult>;
  validationStep?(batch: Batch, batchIdx: number): Awaitable<unknown>;
  abstract configureOptimizers(): OptimizerConfig;

  /** Records a metric; see LogOptions. Feeds `trainer.callbackMetrics`, the loggers and the progress bar. */
  log(name: string, value: number, options?: LogOptions): void {
    this.trainer?.logMetric(name, value, options);
  }

  logDict(values: Record<string, number>, options?: LogOptions): void {
    for (const [name, value] of Object.entries(values)) this.log(name, value, options);
  }

  /** The optimizers the Trainer built from `configureOptimizers` (for manual optimization). */
  optimizers(): Optimizer[] {
    return this.trainer?.optimizers ?? [];
  }

  lrSchedulers(): LRScheduler[] {
    return this.trainer?.lrSchedulerConfigs.map((c) => c.scheduler) ?? [];
  }

  get currentEpoch(): number {
    return this.trainer?.currentEpoch ?? 0;
  }

  get globalStep(): number {
    return this.trainer?.globalStep ?? 0;
  }

  /* Hooks: no-ops here, overridden as needed. */
  setup(_stage: string): Awaitable<void> {}
  teardown(_stage: string): Awaitable<void> {}
  /** Called at the start of fit, before a checkpoint is restored: create parameters lazily here. */
  configureModel(): Awaitable<void> {}
  onFitStart(): Awaitable<void> {}
  onFitEnd(): Awaitable<void> {}
  onTrainStart(): Awaitable<void> {}
  onTrainEnd(): Awaitable<void> {}
  onTrainEpochStart(): Awaitable<void> {}
  onTrainEpochEnd(): Awaitable<void> {}
  onTrainBatchStart(_batch: Batch, _batchIdx: number): Awaitable<void> {}
  onTrainBatchEnd(_outputs: StepResult, _batch: Batch, _batchIdx: number): Awaitable<void> {}
  onValidationStart(): Awaitable<void> {}
  onValidationEnd(): Awaitable<void> {}
  onValidationEpochStart(): Awaitable<void> {}
  onValidationEpochEnd(): Awaitable<void> {}
  onValidationBatchStart(_batch: Batch, _batchIdx: number): Awaitable<void> {}
  onValidationBatchEnd(_outputs: unknown, _batch: Batch, _batchIdx: number): Awaitable<void> {}
  onBeforeOptimizerStep(_optimizer: Optimizer): Awaitable<void> {}
  /** May add keys to the checkpoint being saved. */
  onSaveCheckpoint(_checkpoint: CheckpointDict): Awaitable<void> {}
  /** Sees the loaded checkpoint before `loadStateDict`. */
  onLoadCheckpoint(_checkpoint: CheckpointDict): Awaitable<void> {}
}
