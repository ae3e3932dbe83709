import type { MetricsState } from './metrics.js';
import type { Tensor } from '@strata/checkpoint';

/** Per-batch progress, as Lightning's `_BatchProgress` keeps it. */
export interface ProgressCounters {
  ready: number;
  started: number;
  processed: number;
  completed: number;
}

export interface Progress {
  total: ProgressCounters;
  current: ProgressCounters;
}

/** `loops` in a checkpoint: enough to resume exactly, mid-epoch included. */
export interface LoopsState {
  fit_loop: {
    epoch_progress: Progress;
    epoch_loop: {
      batch_progress: Progress & { is_last_batch: boolean };
      /** Global step at which validation last completed (-1: never); avoids running it twice. */
      last_validation_step: number;
      /** The metrics so far: epoch means and callbackMetrics resume with them (older checkpoints lack it and load without). */
      results?: MetricsState;
    };
    /** The data-order seed in force when the checkpoint was written. */
    seed: number;
  };
}

export interface OptimizerStateDict {
  state: Record<string, Record<string, unknown>>;
  param_groups: Array<Record<string, unknown> & { params: number[]; param_names: string[] }>;
}

export type SchedulerStateDict = Record<string, unknown>;

/** The dict written by `Trainer.saveCheckpoint`. Lightning's keys, with `strata_version`. */
export interface CheckpointDict {
  epoch: number;
  global_step: number;
  strata_version: string;
  state_dict: Record<string, Tensor>;
  loops: LoopsState;
  callbacks?: Record<string, Record<string, unknown>>;
  optimizer_states?: OptimizerStateDict[];
  lr_schedulers?: SchedulerStateDict[];
  hyper_parameters?: Record<string, unknown>;
  datamodule_hyper_parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

export type Stage = 'fit' | 'validate';

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}
