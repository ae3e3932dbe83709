import { Callback } from './callback.js';
import { formatNumber } from './format.js';
import type { Trainer } from './trainer.js';

export interface EarlyStoppingOptions {
  /** Metric in `trainer.callbackMetrics` to watch. */
  monitor: string;
  /** An improvement of at most this much counts as none (default 0). */
  minDelta?: number;
  /** Checks without improvement before the fit stops (default 3). Checks, not epochs. */
  patience?: number;
  mode?: 'min' | 'max';
  /** Throw when the metric is missing (default true); false skips that check. */
  strict?: boolean;
  /** Stop when the metric is NaN or infinite (default true). */
  checkFinite?: boolean;
  /** Stop as soon as the metric is better than this. */
  stoppingThreshold?: number;
  /** Stop as soon as the metric is worse than this. */
  divergenceThreshold?: number;
  /** Check at the end of the training epoch (true) or after each validation (false). Default: decided from the validation setup. */
  checkOnTrainEpochEnd?: boolean;
  /** Print why each check improved or stopped. */
  verbose?: boolean;
}

/**
 * Stops `fit` when a monitored metric stops improving (Lightning's EarlyStopping). Its state
 * (wait count, best score) is saved in checkpoints, so a resumed run stops where a straight one would.
 */
export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  /** Signed as Lightning keeps it: negative in 'min' mode, so `current - minDelta` must still beat the best. */
  readonly minDelta: number;
  patience: number;
  readonly strict: boolean;
  readonly checkFinite: boolean;
  readonly stoppingThreshold: number | undefined;
  readonly divergenceThreshold: number | undefined;
  readonly verbose: boolean;

  waitCount = 0;
  stoppedEpoch = 0;
  bestScore: number;

  private checkOnTrainEpochEnd: boolean | undefined;

  constructor(options: EarlyStoppingOptions) {
    super();
    if (typeof options?.monitor !== 'string' || options.monitor === '') throw new TypeError('EarlyStopping: monitor must name a logged metric');
    this.monitor = options.monitor;
    this.mode = options.mode ?? 'min';
    if (this.mode !== 'min' && this.mode !== 'max') throw new Error(`EarlyStopping: mode must be 'min' or 'max', got ${String(options.mode)}`);
    const minDelta = options.minDelta ?? 0;
    if (!Number.isFinite(minDelta)) throw new RangeError(`EarlyStopping: minDelta must be a finite number, got ${minDelta}`);
    this.minDelta = this.mode === 'max' ? minDelta : -minDelta;
    this.patience = options.patience ?? 3;
    if (!Number.isInteger(this.patience) || this.patience < 0) throw new RangeError(`EarlyStopping: patience must be a whole number >= 0, got ${this.patience}`);
    this.strict = options.strict ?? true;
    this.checkFinite = options.checkFinite ?? true;
    this.stoppingThreshold = options.stoppingThreshold;
    this.divergenceThreshold = options.divergenceThreshold;
    this.checkOnTrainEpochEnd = options.checkOnTrainEpochEnd;
    this.verbose = options.verbose ?? false;
    this.bestScore = this.mode === 'min' ? Infinity : -Infinity;
  }

  /** Lightning's key: two EarlyStopping callbacks may share a checkpoint if monitor or mode differ. */
  override get stateKey(): string {
    return `EarlyStopping${JSON.stringify({ monitor: this.monitor, mode: this.mode })}`;
  }

  override stateDict(): Record<string, unknown> {
    return { wait_count: this.waitCount, stopped_epoch: this.stoppedEpoch, best_score: this.bestScore, patience: this.patience };
  }

  override loadStateDict(state: Record<string, unknown>): void {
    this.waitCount = numberField(state, 'wait_count');
    this.stoppedEpoch = numberField(state, 'stopped_epoch');
    this.bestScore = numberField(state, 'best_score');
    this.patience = numberField(state, 'patience');
  }

  override setup(trainer: Trainer): void {
    // As Lightning: validating more than once an epoch, or not every epoch, moves the check to after validation.
    this.checkOnTrainEpochEnd ??= trainer.valCheckInterval === undefined && trainer.checkValEveryNEpoch === 1;
  }

  override onTrainEpochEnd(trainer: Trainer): void {
    if (this.checkOnTrainEpochEnd && trainer.status === 'running') this.check(trainer);
  }

  override onValidationEnd(trainer: Trainer): void {
    if (!this.checkOnTrainEpochEnd && trainer.status === 'running') this.check(trainer);
  }

  private check(trainer: Trainer): void {
    const metrics = trainer.callbackMetrics;
    const current = metrics[this.monitor];
    if (current === undefined) {
      const message =
        `Early stopping conditioned on metric \`${this.monitor}\` which is not available. ` +
        `Pass in or modify your EarlyStopping callback to use any of the following: ${Object.keys(metrics).map((k) => `\`${k}\``).join(', ')}`;
      if (this.strict) throw new Error(message);
      if (this.verbose) trainer.warn(message);
      return;
    }
    const { stop, reason } = this.evaluate(current);
    if (stop) {
      trainer.shouldStop = true;
      this.stoppedEpoch = trainer.currentEpoch;
    }
    if (this.verbose && reason) console.log(reason);
  }

  private better(a: number, b: number): boolean {
    return this.mode === 'min' ? a < b : a > b;
  }

  /** Lightning's _evaluate_stopping_criteria, in its order. */
  private evaluate(current: number): { stop: boolean; reason?: string } {
    const order = this.mode === 'min' ? '<' : '>';
    if (this.checkFinite && !Number.isFinite(current)) {
      return { stop: true, reason: `Monitored metric ${this.monitor} = ${current} is not finite. Previous best value was ${formatNumber(this.bestScore, '.3f')}. Signaling Trainer to stop.` };
    }
    if (this.stoppingThreshold !== undefined && this.better(current, this.stoppingThreshold)) {
      return { stop: true, reason: `Stopping threshold reached: ${this.monitor} = ${current} ${order} ${this.stoppingThreshold}. Signaling Trainer to stop.` };
    }
    if (this.divergenceThreshold !== undefined && this.better(-current, -this.divergenceThreshold)) {
      return { stop: true, reason: `Divergence threshold reached: ${this.monitor} = ${current} ${order} ${this.divergenceThreshold}. Signaling Trainer to stop.` };
    }
    if (this.better(current - this.minDelta, this.bestScore)) {
      const by = Number.isFinite(this.bestScore) ? ` by ${formatNumber(Math.abs(this.bestScore - current), '.3f')} >= min_delta = ${Math.abs(this.minDelta)}` : '';
      this.bestScore = current;
      this.waitCount = 0;
      return { stop: false, reason: `Metric ${this.monitor} improved${by}. New best score: ${formatNumber(current, '.3f')}` };
    }
    this.waitCount += 1;
    if (this.waitCount < this.patience) return { stop: false };
    return {
      stop: true,
      reason: `Monitored metric ${this.monitor} did not improve in the last ${this.waitCount} records. Best score: ${formatNumber(this.bestScore, '.3f')}. Signaling Trainer to stop.`,
    };
  }
}

function numberField(state: Record<string, unknown>, key: string): number {
  const value = state[key];
  if (typeof value !== 'number') throw new TypeError(`EarlyStopping state: '${key}' must be a number, got ${typeof value}`);
  return value;
}
