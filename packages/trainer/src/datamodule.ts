import type { Loader } from './data.js';
import type { Awaitable } from './module.js';

/**
 * Groups the data of a run (Lightning's LightningDataModule). Its `stateDict` is saved in the
 * checkpoint under `stateKey` (the class name by default) and handed back to `loadStateDict`.
 */
export abstract class DataModule<Batch = unknown> {
  hparams: Record<string, unknown> = {};

  get stateKey(): string {
    return this.constructor.name;
  }

  saveHyperparameters(hparams: Record<string, unknown>): void {
    this.hparams = structuredClone(hparams);
  }

  prepareData(): Awaitable<void> {}
  setup(_stage: string): Awaitable<void> {}
  teardown(_stage: string): Awaitable<void> {}
  abstract trainDataloader(): Awaitable<Loader<Batch>>;
  valDataloader?(): Awaitable<Loader<Batch>>;
  stateDict(): Record<string, unknown> {
    return {};
  }
  loadStateDict(_state: Record<string, unknown>): Awaitable<void> {}
  onException(_error: unknown): Awaitable<void> {}
}
