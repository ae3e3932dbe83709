import { rename, rm, symlink } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { Callback } from './callback.js';
import { formatCheckpointName } from './format.js';
import type { Trainer } from './trainer.js';
import { isLocalUrl, isWithin, joinUrl, normalizeUrl, sameUrl } from './urls.js';

export interface ModelCheckpointOptions {
  /** Directory (any fs-core URL). Default `<defaultRootDir>/checkpoints`. */
  dirpath?: string;
  /** Template such as `{epoch}-{step}-{val_loss:.2f}`; `.ckpt` is appended. Default `{epoch}-{step}`. */
  filename?: string;
  /** Metric in `trainer.callbackMetrics` to rank checkpoints by. */
  monitor?: string;
  mode?: 'min' | 'max';
  /** Keep the best k (-1: all, 0: none). Default 1. Without `monitor`, k must be -1, 0 or 1. */
  saveTopK?: number;
  /**
   * true: also write `last.ckpt` at every save. 'link': make `last.ckpt` point at the newest top-k
   * file instead of writing it again — a symlink on local disk, a copy on every other protocol.
   */
  saveLast?: boolean | 'link';
  everyNTrainSteps?: number;
  everyNEpochs?: number;
  /** Save when at least this many milliseconds passed since the last time-based save. */
  trainTimeInterval?: number;
  saveWeightsOnly?: boolean;
  /** Save at the end of the training epoch (true) or after validation (false). Default: decided from the validation setup. */
  saveOnTrainEpochEnd?: boolean;
  autoInsertMetricName?: boolean;
  /** Append `-v1`, `-v2` ... instead of overwriting an existing file of the same name (default true). */
  enableVersionCounter?: boolean;
  verbose?: boolean;
}

const FILE_EXTENSION = '.ckpt';

/**
 * Saves checkpoints periodically and keeps the best k by a monitored metric (Lightning's
 * ModelCheckpoint). Works the same on every protocol: listing, copying and deleting go through
 * fs-core; top-k cleanup never touches the checkpoint the run resumed from nor anything outside
 * `dirpath`.
 */
export class ModelCheckpoint extends Callback {
  /** Stem of the "last" file; change it (e.g. `{epoch}-last`) before training starts. */
  checkpointNameLast = 'last';

  dirpath: string | undefined;
  readonly filename: string | undefined;
  readonly monitor: string | undefined;
  readonly mode: 'min' | 'max';
  readonly saveTopK: number;
  readonly saveLast: boolean | 'link';
  readonly everyNTrainSteps: number;
  readonly everyNEpochs: number;
  readonly trainTimeInterval: number | undefined;
  readonly saveWeightsOnly: boolean;
  readonly saveOnTrainEpochEnd: boolean | undefined;
  readonly autoInsertMetricName: boolean;
  readonly enableVersionCounter: boolean;
  readonly verbose: boolean;

  bestModelPath = '';
  bestModelScore: number | undefined;
  /** Path → score of the checkpoints kept by top-k. */
  bestKModels: Record<string, number> = {};
  kthBestModelPath = '';
  kthValue: number;
  currentScore: number | undefined;
  lastModelPath = '';

  private readonly dirpathOption: string | undefined;
  private lastGlobalStepSaved = 0;
  private lastTimeChecked: number | undefined;
  private lastCheckpointSaved = '';
  /** Files top-k let go in this save, deleted once 'last' is written (removeEvicted). */
  private readonly evicted: Array<{ path: string; replacedBy: string }> = [];
  /** Saved in this session but possibly not yet visible (async IO); counts as existing for versioning. */
  private readonly pendingPaths = new Set<string>();
  /** A warning from loadStateDict, emitted once the trainer is running. */
  private warnLater: string | undefined;

  constructor(options: ModelCheckpointOptions = {}) {
    super();
    this.dirpathOption = options.dirpath;
    this.filename = options.filename;
    this.monitor = options.monitor;
    this.mode = options.mode ?? 'min';
    this.saveTopK = options.saveTopK ?? 1;
    this.saveLast = options.saveLast ?? false;
    this.saveWeightsOnly = options.saveWeightsOnly ?? false;
    this.saveOnTrainEpochEnd = options.saveOnTrainEpochEnd;
    this.autoInsertMetricName = options.autoInsertMetricName ?? true;
    this.enableVersionCounter = options.enableVersionCounter ?? true;
    this.verbose = options.verbose ?? false;
    this.kthValue = this.mode === 'min' ? Infinity : -Infinity;
    if (this.mode !== 'min' && this.mode !== 'max') throw new Error(`ModelCheckpoint: mode must be 'min' or 'max', got ${String(options.mode)}`);
    if (!Number.isInteger(this.saveTopK) || this.saveTopK < -1) throw new Error(`ModelCheckpoint: saveTopK must be an integer >= -1, got ${this.saveTopK}`);
    if (this.monitor === undefined && ![-1, 0, 1].includes(this.saveTopK)) {
      throw new Error(`ModelCheckpoint(saveTopK: ${this.saveTopK}, monitor: undefined) is not a valid configuration: there is no quantity to rank the top k by`);
    }
    const n = options.everyNTrainSteps;
    const e = options.everyNEpochs;
    const t = options.trainTimeInterval;
    for (const [name, v] of Object.entries({ everyNTrainSteps: n, everyNEpochs: e, trainTimeInterval: t })) {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new Error(`ModelCheckpoint: ${name} must be a non-negative number, got ${v}`);
    }
    if ([n, e, t].filter((v) => v !== undefined && v > 0).length > 1) {
      throw new Error('ModelCheckpoint: everyNTrainSteps, everyNEpochs and trainTimeInterval are mutually exclusive');
    }
    // Lightning's defaults: save every epoch unless another trigger is given.
    if (n === undefined && e === undefined && t === undefined) {
      this.everyNEpochs = 1;
      this.everyNTrainSteps = 0;
    } else {
      this.everyNEpochs = e ?? 0;
      this.everyNTrainSteps = n ?? 0;
    }
    this.trainTimeInterval = t;
  }

  override get stateKey(): string {
    const key = {
      monitor: this.monitor ?? null,
      mode: this.mode,
      every_n_train_steps: this.everyNTrainSteps,
      every_n_epochs: this.everyNEpochs,
      train_time_interval: this.trainTimeInterval ?? null,
    };
    return `ModelCheckpoint${JSON.stringify(key)}`;
  }

  override setup(trainer: Trainer): void {
    this.dirpath = normalizeUrl(this.dirpathOption ?? joinUrl(trainer.defaultRootDir, 'checkpoints'), trainer.localRoot);
  }

  override onTrainStart(): void {
    this.lastTimeChecked = Date.now();
  }

  override async onTrainBatchEnd(trainer: Trainer): Promise<void> {
    if (this.shouldSkip(trainer)) return;
    const skipBatch = this.everyNTrainSteps < 1 || trainer.globalStep % this.everyNTrainSteps !== 0;
    const now = Date.now();
    const skipTime = !this.trainTimeInterval || this.lastTimeChecked === undefined || now - this.lastTimeChecked < this.trainTimeInterval;
    if (skipBatch && skipTime) return;
    if (!skipTime) this.lastTimeChecked = now;
    await this.saveTopKAndLast(trainer);
  }

  /** A fit stopped mid-epoch (maxSteps, shouldStop) saves where that epoch's end would have. */
  override async onTrainEnd(trainer: Trainer): Promise<void> {
    if (trainer.stoppedMidEpoch) await this.saveAtTrainEpochEnd(trainer);
  }

  override async onTrainEpochEnd(trainer: Trainer): Promise<void> {
    await this.saveAtTrainEpochEnd(trainer);
  }

  private async saveAtTrainEpochEnd(trainer: Trainer): Promise<void> {
    if (this.shouldSkip(trainer) || !this.shouldSaveOnTrainEpochEnd(trainer)) return;
    await this.saveOnEpochTrigger(trainer);
  }

  override async onValidationEnd(trainer: Trainer): Promise<void> {
    if (this.shouldSkip(trainer) || this.shouldSaveOnTrainEpochEnd(trainer)) return;
    await this.saveOnEpochTrigger(trainer);
  }

  override stateDict(): Record<string, unknown> {
    return {
      monitor: this.monitor ?? null,
      best_model_score: this.bestModelScore ?? null,
      best_model_path: this.bestModelPath,
      current_score: this.currentScore ?? null,
      dirpath: this.dirpath ?? null,
      best_k_models: { ...this.bestKModels },
      kth_best_model_path: this.kthBestModelPath,
      kth_value: this.kthValue,
      last_model_path: this.lastModelPath,
      last_global_step_saved: this.lastGlobalStepSaved,
    };
  }

  override loadStateDict(state: Record<string, unknown>): void {
    const savedDir = typeof state.dirpath === 'string' ? state.dirpath : this.dirpath;
    if (sameUrl(savedDir, this.dirpath)) {
      this.bestModelScore = (state.best_model_score as number | null) ?? undefined;
      this.kthBestModelPath = (state.kth_best_model_path as string) ?? this.kthBestModelPath;
      this.kthValue = (state.kth_value as number) ?? this.kthValue;
      this.bestKModels = { ...((state.best_k_models as Record<string, number>) ?? this.bestKModels) };
      this.lastModelPath = (state.last_model_path as string) ?? this.lastModelPath;
      this.lastGlobalStepSaved = (state.last_global_step_saved as number) ?? this.lastGlobalStepSaved;
    } else {
      this.warnLater = `The dirpath has changed from ${savedDir} to ${this.dirpath}, so bestModelScore, kthBestModelPath, kthValue, lastModelPath and bestKModels are not reloaded; only bestModelPath is.`;
    }
    this.bestModelPath = (state.best_model_path as string) ?? '';
  }

  override onFitStart(trainer: Trainer): void {
    if (this.warnLater) trainer.warn(this.warnLater);
    this.warnLater = undefined;
  }

  /** The file name this callback would use now for the given metrics (and version). */
  formatCheckpointName(metrics: Record<string, number>, filename = this.filename, version?: number): string {
    let name = formatCheckpointName(filename ?? '{epoch}-{step}', metrics, this.autoInsertMetricName);
    if (version !== undefined) name = `${name}-v${version}`;
    const file = `${name}${FILE_EXTENSION}`;
    return this.dirpath ? joinUrl(this.dirpath, file) : file;
  }

  /* ---------------------------------------------------------------- */

  private shouldSkip(trainer: Trainer): boolean {
    return trainer.status !== 'running' || this.lastGlobalStepSaved === trainer.globalStep;
  }

  private shouldSaveOnTrainEpochEnd(trainer: Trainer): boolean {
    if (this.saveOnTrainEpochEnd !== undefined) return this.saveOnTrainEpochEnd;
    if (!trainer.hasValidation) return true;
    if (trainer.checkValEveryNEpoch !== 1) return false;
    return trainer.valCheckInterval === undefined;
  }

  private async saveOnEpochTrigger(trainer: Trainer): Promise<void> {
    const candidates = this.monitorCandidates(trainer);
    if (this.everyNEpochs >= 1 && (trainer.currentEpoch + 1) % this.everyNEpochs === 0) await this.saveTopKCheckpoint(trainer, candidates);
    await this.saveLastCheckpoint(trainer, candidates);
    await this.removeEvicted(trainer);
  }

  private async saveTopKAndLast(trainer: Trainer): Promise<void> {
    const candidates = this.monitorCandidates(trainer);
    await this.saveTopKCheckpoint(trainer, candidates);
    await this.saveLastCheckpoint(trainer, candidates);
    await this.removeEvicted(trainer);
  }

  /**
   * Deletes the files top-k let go, once 'last' is written: a `saveLast: 'link'` symlink may point at
   * one until it is re-pointed, and a crash in between must not leave it dangling.
   */
  private async removeEvicted(trainer: Trainer): Promise<void> {
    for (const { path, replacedBy } of this.evicted.splice(0)) {
      if (this.shouldRemove(trainer, path, replacedBy)) await this.removeCheckpoint(trainer, path);
    }
  }

  private monitorCandidates(trainer: Trainer): Record<string, number> {
    return { ...trainer.callbackMetrics, epoch: trainer.currentEpoch, step: trainer.globalStep };
  }

  private async saveTopKCheckpoint(trainer: Trainer, candidates: Record<string, number>): Promise<void> {
    if (this.saveTopK === 0) return;
    if (this.monitor === undefined) {
      await this.saveNoneMonitorCheckpoint(trainer, candidates);
      return;
    }
    if (!(this.monitor in candidates)) {
      const message = `ModelCheckpoint(monitor: '${this.monitor}') could not find the monitored key in the logged metrics: ${Object.keys(candidates).join(', ')}. HINT: did you call module.log('${this.monitor}', value)?`;
      if (trainer.validationHasRun) throw new Error(message);
      trainer.warn(message);
      return;
    }
    const current = candidates[this.monitor]!;
    if (this.checkMonitorTopK(current)) {
      await this.updateBestAndSave(trainer, current, candidates);
    } else if (this.verbose) {
      console.log(`Epoch ${trainer.currentEpoch}, global step ${trainer.globalStep}: '${this.monitor}' was not in top ${this.saveTopK}`);
    }
  }

  private better(a: number, b: number): boolean {
    return this.mode === 'min' ? a < b : a > b;
  }

  private checkMonitorTopK(current: number): boolean {
    if (this.saveTopK === -1) return true;
    if (Object.keys(this.bestKModels).length < this.saveTopK) return true;
    return this.better(Number.isNaN(current) ? (this.mode === 'min' ? Infinity : -Infinity) : current, this.bestKModels[this.kthBestModelPath]!);
  }

  private async updateBestAndSave(trainer: Trainer, rawCurrent: number, candidates: Record<string, number>): Promise<void> {
    const k = this.saveTopK === -1 ? Object.keys(this.bestKModels).length + 1 : this.saveTopK;
    let deletePath: string | undefined;
    if (Object.keys(this.bestKModels).length === k && k > 0) {
      deletePath = this.kthBestModelPath;
      delete this.bestKModels[deletePath];
    }
    // NaN never counts as good: store it as the worst possible value.
    const current = Number.isNaN(rawCurrent) ? (this.mode === 'min' ? Infinity : -Infinity) : rawCurrent;
    const filepath = await this.interpolatedPath(trainer, candidates, deletePath);
    this.currentScore = current;
    this.bestKModels[filepath] = current;
    const entries = Object.entries(this.bestKModels);
    if (entries.length === k) {
      const worst = entries.reduce((a, b) => (this.better(a[1], b[1]) ? b : a));
      this.kthBestModelPath = worst[0];
      this.kthValue = worst[1];
    }
    const best = entries.reduce((a, b) => (this.better(b[1], a[1]) ? b : a));
    this.bestModelPath = best[0];
    this.bestModelScore = best[1];
    if (this.verbose) {
      console.log(`Epoch ${trainer.currentEpoch}, global step ${trainer.globalStep}: '${this.monitor}' reached ${current} (best ${this.bestModelScore}), saving ${filepath} as top ${k}`);
    }
    await this.saveCheckpoint(trainer, filepath);
    if (deletePath) this.evicted.push({ path: deletePath, replacedBy: filepath });
  }

  private async saveNoneMonitorCheckpoint(trainer: Trainer, candidates: Record<string, number>): Promise<void> {
    const filepath = await this.interpolatedPath(trainer, candidates, this.bestModelPath || undefined);
    // Updated before saving because this state is part of the checkpoint being written.
    const previous = this.bestModelPath;
    this.bestModelPath = filepath;
    await this.saveCheckpoint(trainer, filepath);
    if (this.saveTopK === 1 && previous) this.evicted.push({ path: previous, replacedBy: filepath });
  }

  private async saveLastCheckpoint(trainer: Trainer, candidates: Record<string, number>): Promise<void> {
    if (!this.saveLast) return;
    let filepath = this.formatCheckpointName(candidates, this.checkpointNameLast);
    if (this.enableVersionCounter) {
      for (let version = 1; !sameUrl(filepath, this.lastModelPath) && (await this.fileExists(trainer, filepath)); version++) {
        filepath = this.formatCheckpointName(candidates, this.checkpointNameLast, version);
      }
    }
    const previous = this.lastModelPath;
    this.lastModelPath = filepath;
    if (this.saveLast === 'link' && this.lastCheckpointSaved && this.saveTopK !== 0) {
      await this.linkCheckpoint(trainer, this.lastCheckpointSaved, filepath);
    } else {
      await this.saveCheckpoint(trainer, filepath);
    }
    if (previous && this.shouldRemove(trainer, previous, filepath)) await this.removeCheckpoint(trainer, previous);
  }

  /** A file name for the metrics; adds -v1, -v2 ... while the name is taken (except by the file being replaced). */
  private async interpolatedPath(trainer: Trainer, candidates: Record<string, number>, replacing: string | undefined): Promise<string> {
    let filepath = this.formatCheckpointName(candidates);
    if (!this.enableVersionCounter) return filepath;
    for (let version = 1; !sameUrl(filepath, replacing) && (await this.fileExists(trainer, filepath)); version++) {
      filepath = this.formatCheckpointName(candidates, this.filename, version);
    }
    return filepath;
  }

  private async fileExists(trainer: Trainer, url: string): Promise<boolean> {
    if (this.pendingPaths.has(normalizeUrl(url))) return true;
    const { fs, path } = await trainer.fileSystems.get(url);
    return fs.exists(path);
  }

  private async saveCheckpoint(trainer: Trainer, filepath: string): Promise<void> {
    this.lastGlobalStepSaved = trainer.globalStep;
    this.lastCheckpointSaved = filepath;
    this.pendingPaths.add(normalizeUrl(filepath));
    await trainer.saveCheckpoint(filepath, { weightsOnly: this.saveWeightsOnly });
  }

  /**
   * Makes `linkPath` show the checkpoint at `target`. Local disk: a relative symlink, swapped in
   * atomically with a rename. Object stores, memory and a rooted local disk: a copy, after the
   * target has been committed.
   */
  private async linkCheckpoint(trainer: Trainer, target: string, linkPath: string): Promise<void> {
    if (sameUrl(target, linkPath)) return;
    this.pendingPaths.add(normalizeUrl(linkPath));
    // Never let 'last' name a file that is not committed yet: a crash would leave it dangling.
    await waitUntilSaved(trainer);
    // Under a `file` root the paths are the root's, not the host's: links go through fs-core as copies.
    if (isLocalUrl(target) && isLocalUrl(linkPath) && !trainer.localRoot) {
      const link = normalizeUrl(linkPath);
      const temp = `${link}.tmp-link-${process.pid}-${Date.now()}`;
      await symlink(relative(dirname(link), normalizeUrl(target)), temp);
      try {
        await rename(temp, link);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      return;
    }
    const { fs, path } = await trainer.fileSystems.get(target);
    await fs.cp(path, normalizeUrl(linkPath));
  }

  /** Lightning's rule, applied on every protocol. */
  private shouldRemove(trainer: Trainer, previous: string, current: string): boolean {
    if (sameUrl(previous, current)) return false;
    if (trainer.ckptPath !== undefined && sameUrl(previous, trainer.ckptPath)) return false;
    if (!this.dirpath || !isWithin(this.dirpath, previous)) return false;
    // Another name may still point at the file (top-k entry kept, or "last" copied from it).
    if (Object.keys(this.bestKModels).some((p) => sameUrl(p, previous)) || sameUrl(previous, this.lastModelPath)) return false;
    return true;
  }

  private async removeCheckpoint(trainer: Trainer, url: string): Promise<void> {
    this.pendingPaths.delete(normalizeUrl(url));
    await trainer.checkpointIO.removeCheckpoint(normalizeUrl(url));
  }
}

/** Waits until saves that may be in flight (AsyncCheckpointIO) have committed. */
async function waitUntilSaved(trainer: Trainer): Promise<void> {
  const io = trainer.checkpointIO as { flush?: () => Promise<void> };
  if (typeof io.flush === 'function') await io.flush();
}
