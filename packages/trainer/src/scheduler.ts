import type { Optimizer } from './optim.js';
import type { SchedulerStateDict } from './types.js';

/**
 * Base learning-rate scheduler. `step()` advances `lastEpoch` and sets each group's lr from
 * `lrAt`, a closed form of the epoch count, so a restored scheduler lands on the same value.
 */
export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  baseLrs: number[];
  lastEpoch = 0;
  private lastLr: number[];

  constructor(optimizer: Optimizer) {
    this.optimizer = optimizer;
    this.baseLrs = optimizer.paramGroups.map((g) => g.hyper.initial_lr ?? g.hyper.lr);
    this.lastLr = optimizer.paramGroups.map((g) => g.hyper.lr);
  }

  protected abstract lrAt(epoch: number, baseLr: number): number;

  step(): void {
    this.lastEpoch += 1;
    this.lastLr = this.baseLrs.map((base) => this.lrAt(this.lastEpoch, base));
    this.optimizer.paramGroups.forEach((g, i) => {
      g.hyper.lr = this.lastLr[i]!;
    });
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Settings of the concrete scheduler, stored beside the counters. */
  protected abstract settings(): Record<string, number>;
  protected abstract loadSettings(settings: Record<string, unknown>): void;

  stateDict(): SchedulerStateDict {
    return { ...this.settings(), base_lrs: [...this.baseLrs], last_epoch: this.lastEpoch, _last_lr: [...this.lastLr] };
  }

  loadStateDict(state: SchedulerStateDict): void {
    const { base_lrs: baseLrs, last_epoch: lastEpoch, _last_lr: lastLr, ...settings } = state;
    if (!Array.isArray(baseLrs) || typeof lastEpoch !== 'number' || !Array.isArray(lastLr)) {
      throw new Error(`${this.constructor.name}.loadStateDict: not a scheduler state dict`);
    }
    if (baseLrs.length !== this.optimizer.paramGroups.length) {
      throw new Error(`${this.constructor.name}.loadStateDict: saved for ${baseLrs.length} parameter groups, optimizer has ${this.optimizer.paramGroups.length}`);
    }
    this.baseLrs = baseLrs.map(Number);
    this.lastEpoch = lastEpoch;
    this.lastLr = lastLr.map(Number);
    this.loadSettings(settings);
  }
}

export interface StepLROptions {
  /** Decay every `stepSize` scheduler steps (epochs or optimizer steps, per `interval`). */
  stepSize: number;
  /** Multiplicative factor (default 0.1). */
  gamma?: number;
}

/** Step decay: lr = baseLr · gamma^floor(lastEpoch / stepSize), as `torch.optim.lr_scheduler.StepLR`. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;

  constructor(optimizer: Optimizer, options: StepLROptions) {
    super(optimizer);
    if (!Number.isInteger(options.stepSize) || options.stepSize <= 0) throw new RangeError(`StepLR: stepSize must be a positive integer, got ${options.stepSize}`);
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
  }

  protected lrAt(epoch: number, baseLr: number): number {
    return baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }

  protected settings(): Record<string, number> {
    return { step_size: this.stepSize, gamma: this.gamma };
  }

  protected loadSettings(settings: Record<string, unknown>): void {
    if (typeof settings.step_size === 'number') this.stepSize = settings.step_size;
    if (typeof settings.gamma === 'number') this.gamma = settings.gamma;
  }
}
