import { Module, type OptimizerConfig, type TrainingStepOutput } from '../module.js';
import { Adam, SGD } from '../optim.js';
import { Rng } from '../rng.js';
import { StepLR } from '../scheduler.js';
import type { F32Tensor } from '../tensor.js';
import type { RegressionBatch } from './data.js';
import { initLinear, linearBackward, linearForward } from './layers.js';

export interface LinearRegressionOptions {
  inputSize: number;
  outputSize?: number;
  seed?: number;
  optimizer?: 'sgd' | 'adam';
  lr?: number;
  momentum?: number;
  /** StepLR with interval 'step': decay every `lrStepSize` optimizer steps. */
  lrStepSize?: number;
  gamma?: number;
}

/** y = x·Wᵀ + b with mean-squared error. Parameters: weight, bias. */
export class LinearRegression extends Module<RegressionBatch> {
  readonly options: LinearRegressionOptions;
  weight!: F32Tensor;
  bias!: F32Tensor;
  private ready = false;

  constructor(options: LinearRegressionOptions) {
    super();
    this.options = options;
    this.saveHyperparameters({ ...options });
    if (options.seed !== undefined) this.initParameters(options.seed);
  }

  initParameters(seed: number): void {
    const { weight, bias } = initLinear(new Rng(seed), this.options.outputSize ?? 1, this.options.inputSize);
    this.weight = this.registerParameter('weight', weight);
    this.bias = this.registerParameter('bias', bias);
    this.ready = true;
  }

  override configureModel(): void {
    if (!this.ready) this.initParameters(this.trainer?.seed ?? 0);
  }

  predict(x: Float32Array, size: number): Float32Array {
    return linearForward(x, size, this.weight, this.bias);
  }

  /** Mean squared error over all outputs and its gradients. */
  lossAndGradients(batch: RegressionBatch): { loss: number; grads: Record<string, Float32Array> } {
    const prediction = this.predict(batch.x, batch.size);
    const n = prediction.length;
    let loss = 0;
    const dPrediction = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const diff = prediction[i]! - batch.y[i]!;
      loss += diff * diff;
      dPrediction[i] = (2 * diff) / n;
    }
    const { dWeight, dBias } = linearBackward(batch.x, dPrediction, batch.size, this.weight, false);
    return { loss: loss / n, grads: { weight: dWeight, bias: dBias } };
  }

  override trainingStep(batch: RegressionBatch): TrainingStepOutput {
    const { loss, grads } = this.lossAndGradients(batch);
    this.log('train_loss', loss, { progBar: true });
    return { loss, grads };
  }

  override validationStep(batch: RegressionBatch): number {
    const { loss } = this.lossAndGradients(batch);
    this.log('val_loss', loss, { batchSize: batch.size, progBar: true });
    return loss;
  }

  override configureOptimizers(): OptimizerConfig {
    const params = this.namedParameters();
    const lr = this.options.lr ?? 0.05;
    const optimizer = this.options.optimizer === 'adam' ? new Adam(params, { lr }) : new SGD(params, { lr, momentum: this.options.momentum ?? 0 });
    if (this.options.lrStepSize === undefined) return optimizer;
    return { optimizer, lrScheduler: { scheduler: new StepLR(optimizer, { stepSize: this.options.lrStepSize, gamma: this.options.gamma ?? 0.5 }), interval: 'step' } };
  }
}
