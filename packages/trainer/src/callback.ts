import type { Awaitable, Module, StepResult } from './module.js';
import type { Optimizer } from './optim.js';
import type { Trainer } from './trainer.js';
import type { CheckpointDict } from './types.js';

type AnyModule = Module<unknown>;

/**
 * Base class of callbacks (Lightning's Callback). Every hook is a no-op; override what you need.
 * A callback with state returns it from `stateDict` and it is saved under `callbacks[stateKey]`.
 */
export abstract class Callback {
  /** Identifies this callback's state in a checkpoint. Make it unique when one class is used twice. */
  get stateKey(): string {
    return this.constructor.name;
  }

  stateDict(): Record<string, unknown> {
    return {};
  }
  loadStateDict(_state: Record<string, unknown>): Awaitable<void> {}

  setup(_trainer: Trainer, _module: AnyModule, _stage: string): Awaitable<void> {}
  teardown(_trainer: Trainer, _module: AnyModule, _stage: string): Awaitable<void> {}
  onFitStart(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onFitEnd(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onTrainStart(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onTrainEnd(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onTrainEpochStart(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onTrainEpochEnd(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onTrainBatchStart(_trainer: Trainer, _module: AnyModule, _batch: unknown, _batchIdx: number): Awaitable<void> {}
  onTrainBatchEnd(_trainer: Trainer, _module: AnyModule, _outputs: StepResult, _batch: unknown, _batchIdx: number): Awaitable<void> {}
  onValidationStart(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onValidationEnd(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onValidationEpochStart(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onValidationEpochEnd(_trainer: Trainer, _module: AnyModule): Awaitable<void> {}
  onValidationBatchStart(_trainer: Trainer, _module: AnyModule, _batch: unknown, _batchIdx: number): Awaitable<void> {}
  onValidationBatchEnd(_trainer: Trainer, _module: AnyModule, _outputs: unknown, _batch: unknown, _batchIdx: number): Awaitable<void> {}
  onBeforeOptimizerStep(_trainer: Trainer, _module: AnyModule, _optimizer: Optimizer): Awaitable<void> {}
  /** Training raised; runs before the error propagates out of `fit`. */
  onException(_trainer: Trainer, _module: AnyModule, _error: unknown): Awaitable<void> {}
  /** May add keys to the checkpoint being saved. */
  onSaveCheckpoint(_trainer: Trainer, _module: AnyModule, _checkpoint: CheckpointDict): Awaitable<void> {}
  onLoadCheckpoint(_trainer: Trainer, _module: AnyModule, _checkpoint: CheckpointDict): Awaitable<void> {}
}
