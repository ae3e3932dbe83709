export type Reduce = 'mean' | 'sum' | 'max' | 'min';

export interface LogOptions {
  /** Record the value of every step. Default: true in training, false in validation and in onTrainStart/onTrainEpochStart/End. */
  onStep?: boolean;
  /** Reduce over the epoch (or validation run). Default: false in training, true in validation and in onTrainStart/onTrainEpochStart/End. */
  onEpoch?: boolean;
  /** Show on the progress bar. */
  progBar?: boolean;
  /** Send to the loggers (default true). */
  logger?: boolean;
  /** How epoch values are reduced (default 'mean'). */
  reduceFx?: Reduce;
  /** Weight of this value in an epoch mean (default 1); a sum, max or min ignores it, as in Lightning. */
  batchSize?: number;
}

export type LogPhase = 'train' | 'validate';

export interface Accumulator {
  sum: number;
  weight: number;
  max: number;
  min: number;
  reduce: Reduce;
  progBar: boolean;
  logger: boolean;
  forked: boolean;
}

/** What a checkpoint keeps of the metrics, so a resumed run reduces epochs and ranks checkpoints as a straight one. */
export interface MetricsState {
  callback_metrics: Record<string, number>;
  progress_bar_metrics: Record<string, number>;
  logged_metrics: Record<string, number>;
  epoch_accumulators: Record<LogPhase, Record<string, Accumulator>>;
}

/**
 * What `Module.log` feeds. Step values land in `callbackMetrics` at once; epoch values are
 * reduced at the end of the training epoch or validation run, as Lightning's ResultCollection does.
 */
export class MetricsCollector {
  readonly callbackMetrics: Record<string, number> = {};
  readonly progressBarMetrics: Record<string, number> = {};
  readonly loggedMetrics: Record<string, number> = {};
  private readonly epochAccumulators: Record<LogPhase, Map<string, Accumulator>> = { train: new Map(), validate: new Map() };
  private readonly pendingForLogger: Record<LogPhase, Record<string, number>> = { train: {}, validate: {} };

  log(phase: LogPhase, name: string, value: number, options: LogOptions = {}): void {
    if (typeof value !== 'number') throw new TypeError(`log("${name}"): value must be a number, got ${typeof value}`);
    const onStep = options.onStep ?? phase === 'train';
    const onEpoch = options.onEpoch ?? phase === 'validate';
    const progBar = options.progBar ?? false;
    const logger = options.logger ?? true;
    const forked = onStep && onEpoch;
    if (onStep) {
      const key = forked ? `${name}_step` : name;
      this.callbackMetrics[key] = value;
      if (forked) this.callbackMetrics[name] = value;
      if (progBar) this.progressBarMetrics[key] = value;
      if (logger) this.pendingForLogger[phase][key] = value;
    }
    if (onEpoch) {
      const weight = options.batchSize ?? 1;
      const acc = this.epochAccumulators[phase].get(name) ?? {
        sum: 0, weight: 0, max: -Infinity, min: Infinity, reduce: options.reduceFx ?? 'mean', progBar, logger, forked,
      };
      acc.sum += acc.reduce === 'mean' ? value * weight : value;
      acc.weight += weight;
      acc.max = Math.max(acc.max, value);
      acc.min = Math.min(acc.min, value);
      this.epochAccumulators[phase].set(name, acc);
    }
  }

  /**
   * Writes the epoch values of `phase` logged so far, reduced, into the metrics and returns those
   * meant for loggers. The values keep accumulating: epoch-end hooks may still log more.
   */
  reduceEpoch(phase: LogPhase): Record<string, number> {
    const forLogger: Record<string, number> = {};
    for (const [name, acc] of this.epochAccumulators[phase]) {
      const value =
        acc.reduce === 'sum' ? acc.sum : acc.reduce === 'max' ? acc.max : acc.reduce === 'min' ? acc.min : acc.weight === 0 ? NaN : acc.sum / acc.weight;
      const key = acc.forked ? `${name}_epoch` : name;
      this.callbackMetrics[key] = value;
      if (acc.forked) this.callbackMetrics[name] = value;
      if (acc.progBar) this.progressBarMetrics[key] = value;
      if (acc.logger) forLogger[key] = value;
    }
    return forLogger;
  }

  /** Reduces the epoch values of `phase` for the last time and returns those meant for loggers. */
  endEpoch(phase: LogPhase): Record<string, number> {
    const forLogger = this.reduceEpoch(phase);
    this.epochAccumulators[phase].clear();
    Object.assign(this.loggedMetrics, forLogger);
    return forLogger;
  }

  /** Step values of `phase` logged since the last call, for the loggers. */
  takeStepMetrics(phase: LogPhase): Record<string, number> {
    const out = this.pendingForLogger[phase];
    this.pendingForLogger[phase] = {};
    Object.assign(this.loggedMetrics, out);
    return out;
  }

  /** Forgets the step values of `phase` no log step took (they stay in callbackMetrics). */
  dropStepMetrics(phase: LogPhase): void {
    this.pendingForLogger[phase] = {};
  }

  resetPhase(phase: LogPhase): void {
    this.epochAccumulators[phase].clear();
  }

  stateDict(): MetricsState {
    const accumulators = (phase: LogPhase) => Object.fromEntries([...this.epochAccumulators[phase]].map(([name, acc]) => [name, { ...acc }]));
    return {
      callback_metrics: { ...this.callbackMetrics },
      progress_bar_metrics: { ...this.progressBarMetrics },
      logged_metrics: { ...this.loggedMetrics },
      epoch_accumulators: { train: accumulators('train'), validate: accumulators('validate') },
    };
  }

  loadStateDict(state: MetricsState): void {
    Object.assign(this.callbackMetrics, state.callback_metrics);
    Object.assign(this.progressBarMetrics, state.progress_bar_metrics);
    Object.assign(this.loggedMetrics, state.logged_metrics);
    for (const phase of ['train', 'validate'] as const) {
      this.epochAccumulators[phase] = new Map(Object.entries(state.epoch_accumulators[phase]).map(([name, acc]) => [name, { ...acc }]));
    }
  }
}
