import cliProgress from 'cli-progress';
import { Callback } from './callback.js';
import type { Trainer } from './trainer.js';

export interface ProgressBarOptions {
  /** Where the bar is drawn (default process.stdout). */
  stream?: NodeJS.WriteStream;
  /** Draw even when the stream is not a terminal (default false). */
  force?: boolean;
  /** Redraws per second at most (default 10). */
  fps?: number;
}

function formatMetric(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e5) ? value.toExponential(3) : value.toFixed(4);
}

/**
 * A terminal progress bar per epoch (cli-progress) showing the running training loss, steps per
 * second and the metrics logged with `progBar: true`. Draws nothing when the stream is not a TTY.
 */
export class ProgressBar extends Callback {
  private readonly stream: NodeJS.WriteStream;
  private readonly enabled: boolean;
  private readonly fps: number;
  private bar: cliProgress.SingleBar | undefined;
  private epochStartTime = 0;
  private epochStartStep = 0;

  constructor(options: ProgressBarOptions = {}) {
    super();
    this.stream = options.stream ?? process.stdout;
    this.enabled = options.force === true || this.stream.isTTY === true;
    this.fps = options.fps ?? 10;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  override onTrainEpochStart(trainer: Trainer): void {
    if (!this.enabled) return;
    this.stopBar();
    const done = trainer.batchesCompletedInEpoch;
    const total = trainer.numTrainingBatches ?? (trainer.maxSteps > 0 ? trainer.maxSteps : 0);
    this.epochStartTime = performance.now();
    this.epochStartStep = trainer.globalStep;
    this.bar = new cliProgress.SingleBar(
      {
        format: `Epoch ${trainer.currentEpoch} |{bar}| {value}/{total} | {rate} steps/s | {metrics}`,
        stream: this.stream,
        fps: this.fps,
        barsize: 30,
        hideCursor: null,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, done, { rate: '0.0', metrics: '' });
  }

  override onTrainBatchEnd(trainer: Trainer): void {
    this.update(trainer);
  }

  override onValidationEnd(trainer: Trainer): void {
    this.update(trainer);
  }

  override onTrainEpochEnd(trainer: Trainer): void {
    this.update(trainer);
    this.stopBar();
  }

  override onTrainEnd(): void {
    this.stopBar();
  }

  override onException(): void {
    this.stopBar();
  }

  private update(trainer: Trainer): void {
    if (!this.bar) return;
    const seconds = (performance.now() - this.epochStartTime) / 1000;
    const steps = trainer.globalStep - this.epochStartStep;
    const rate = seconds > 0 ? (steps / seconds).toFixed(1) : '0.0';
    const metrics = Object.entries(trainer.progressBarMetrics)
      .map(([k, v]) => `${k}=${formatMetric(v)}`)
      .join(' ');
    const done = trainer.batchesCompletedInEpoch;
    this.bar.update(done, { rate, metrics });
  }

  private stopBar(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
