import { NotFoundError } from '@strata/fs-core';
import type { Trainer } from './trainer.js';
import { basenameUrl, FileSystems, hasLocalRoot, joinUrl, normalizeUrl } from './urls.js';

/** Receives metrics from the Trainer (Lightning's Logger). */
export interface Logger {
  readonly name: string;
  /** Called at the start of fit, before any metric. */
  setup?(trainer: Trainer): void | Promise<void>;
  logHyperparams?(params: Record<string, unknown>): void | Promise<void>;
  logMetrics(metrics: Record<string, number>, step: number): void | Promise<void>;
  /** Writes out what is buffered. */
  save(): Promise<void>;
  finalize(status: 'success' | 'failed'): Promise<void>;
}

export interface CSVLoggerOptions {
  /** Directory (any fs-core URL). Default: the trainer's defaultRootDir. */
  saveDir?: string;
  name?: string;
  /** Default: one more than the highest `version_N` already under `<saveDir>/<name>`. */
  version?: number | string;
  /** Rewrite the file after this many new rows (default 100); always at the end of fit. */
  flushLogsEveryNSteps?: number;
  storageOptions?: Record<string, unknown>;
}

function csvCell(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = typeof value === 'number' ? formatNumberCell(value) : value;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function formatNumberCell(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return String(value);
}

/**
 * Writes metrics to `<saveDir>/<name>/version_<n>/metrics.csv` and hyper-parameters to
 * `hparams.json` next to it, through fs-core so any protocol works.
 *
 * Object stores cannot append, so each flush rewrites the whole file with one atomic write:
 * a reader always sees a complete CSV, and a new metric name simply widens the header. The rows
 * are kept in memory for that, which is small for metric logs (a few numbers per logged step).
 */
export class CSVLogger implements Logger {
  readonly name: string;
  private saveDir: string | undefined;
  private versionOption: number | string | undefined;
  private readonly flushEvery: number;
  private fileSystems: FileSystems;
  private readonly ownsFileSystems: boolean;
  private readonly rows: Array<Record<string, number>> = [];
  private readonly columns = new Set<string>();
  private unsaved = 0;
  private resolvedVersion: string | undefined;
  private hparams: Record<string, unknown> | undefined;
  private hparamsDirty = false;

  constructor(options: CSVLoggerOptions = {}) {
    this.saveDir = options.saveDir === undefined ? undefined : normalizeUrl(options.saveDir, hasLocalRoot(options.storageOptions));
    this.name = options.name ?? 'csv_logs';
    this.versionOption = options.version;
    this.flushEvery = options.flushLogsEveryNSteps ?? 100;
    this.fileSystems = new FileSystems(options.storageOptions);
    this.ownsFileSystems = options.storageOptions !== undefined;
  }

  setup(trainer: Trainer): void {
    this.saveDir ??= trainer.defaultRootDir;
    if (!this.ownsFileSystems) this.fileSystems = trainer.fileSystems;
  }

  /** `version_<n>` (or the given version), resolved on first use by listing `<saveDir>/<name>`. */
  async version(): Promise<string> {
    if (this.resolvedVersion !== undefined) return this.resolvedVersion;
    if (this.versionOption !== undefined) {
      this.resolvedVersion = typeof this.versionOption === 'number' ? `version_${this.versionOption}` : this.versionOption;
      return this.resolvedVersion;
    }
    const root = joinUrl(this.requireSaveDir(), this.name);
    const { fs, path } = await this.fileSystems.get(root);
    let highest = -1;
    try {
      for (const entry of await fs.ls(path)) {
        const m = /^version_(\d+)$/.exec(basenameUrl(entry.name));
        if (m && entry.type === 'directory') highest = Math.max(highest, Number(m[1]));
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    this.resolvedVersion = `version_${highest + 1}`;
    return this.resolvedVersion;
  }

  async logDir(): Promise<string> {
    return joinUrl(this.requireSaveDir(), this.name, await this.version());
  }

  async metricsFile(): Promise<string> {
    return joinUrl(await this.logDir(), 'metrics.csv');
  }

  logHyperparams(params: Record<string, unknown>): void {
    this.hparams = { ...(this.hparams ?? {}), ...params };
    this.hparamsDirty = true;
  }

  async logMetrics(metrics: Record<string, number>, step: number): Promise<void> {
    const row = { ...metrics, step };
    for (const key of Object.keys(row)) this.columns.add(key);
    this.rows.push(row);
    this.unsaved += 1;
    if (this.unsaved >= this.flushEvery) await this.save();
  }

  async save(): Promise<void> {
    if (this.unsaved === 0 && !this.hparamsDirty) return;
    const dir = await this.logDir();
    const { fs } = await this.fileSystems.get(dir);
    if (this.hparamsDirty) {
      await fs.pipe(joinUrl(dir, 'hparams.json'), `${JSON.stringify(this.hparams, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
      this.hparamsDirty = false;
    }
    if (this.unsaved > 0) {
      const columns = [...this.columns].sort((a, b) => (a === 'step' ? -1 : b === 'step' ? 1 : a < b ? -1 : a > b ? 1 : 0));
      const lines = [columns.map(csvCell).join(',')];
      for (const row of this.rows) lines.push(columns.map((c) => csvCell(row[c])).join(','));
      await fs.pipe(joinUrl(dir, 'metrics.csv'), `${lines.join('\n')}\n`);
    }
    this.unsaved = 0;
  }

  async finalize(_status: 'success' | 'failed'): Promise<void> {
    await this.save();
  }

  private requireSaveDir(): string {
    if (!this.saveDir) throw new Error('CSVLogger has no saveDir: pass one, or use it through a Trainer');
    return this.saveDir;
  }
}
