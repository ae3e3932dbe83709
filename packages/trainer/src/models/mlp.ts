import { Module, type OptimizerConfig, type TrainingStepOutput } from '../module.js';
import { Adam, SGD, type Optimizer } from '../optim.js';
import { Rng } from '../rng.js';
import { StepLR } from '../scheduler.js';
import type { F32Tensor } from '../tensor.js';
import type { ClassificationBatch } from './data.js';
import { initLinear, linearBackward, linearForward, relu, softmaxCrossEntropy } from './layers.js';

export interface MLPClassifierOptions {
  inputSize: number;
  hiddenSize: number;
  numClasses: number;
  /** Initialisation seed. When omitted the parameters are created in configureModel from the trainer's seed. */
  seed?: number;
  optimizer?: 'sgd' | 'adam';
  lr?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** StepLR: decay the lr by `gamma` every `lrStepSize` epochs (default: no scheduler). */
  lrStepSize?: number;
  gamma?: number;
}

/**
 * A two-layer perceptron (Linear → ReLU → Linear) trained with softmax cross-entropy, with the
 * backward pass written out by hand on Float32Arrays. Parameters: fc1.weight, fc1.bias,
 * fc2.weight, fc2.bias.
 */
export class MLPClassifier extends Module<ClassificationBatch> {
  readonly options: MLPClassifierOptions;
  private params: Record<'fc1.weight' | 'fc1.bias' | 'fc2.weight' | 'fc2.bias', F32Tensor> | undefined;

  constructor(options: MLPClassifierOptions) {
    super();
    this.options = options;
    this.saveHyperparameters({ ...options });
    if (options.seed !== undefined) this.initParameters(options.seed);
  }

  get initialized(): boolean {
    return this.params !== undefined;
  }

  /** Creates the parameters from `seed` (PyTorch's Linear initialisation). */
  initParameters(seed: number): void {
    const rng = new Rng(seed);
    const { inputSize, hiddenSize, numClasses } = this.options;
    const fc1 = initLinear(rng, hiddenSize, inputSize);
    const fc2 = initLinear(rng, numClasses, hiddenSize);
    this.params = {
      'fc1.weight': this.registerParameter('fc1.weight', fc1.weight),
      'fc1.bias': this.registerParameter('fc1.bias', fc1.bias),
      'fc2.weight': this.registerParameter('fc2.weight', fc2.weight),
      'fc2.bias': this.registerParameter('fc2.bias', fc2.bias),
    };
  }

  override configureModel(): void {
    if (!this.params) this.initParameters(this.trainer?.seed ?? 0);
  }

  private p() {
    if (!this.params) throw new Error('MLPClassifier has no parameters yet: pass a seed or let the Trainer call configureModel()');
    return this.params;
  }

  /** Logits [size, numClasses] and the activations the backward pass needs. */
  forward(x: Float32Array, size: number): { logits: Float32Array; hidden: Float32Array; preActivation: Float32Array } {
    const p = this.p();
    const preActivation = linearForward(x, size, p['fc1.weight'], p['fc1.bias']);
    const hidden = relu(preActivation);
    const logits = linearForward(hidden, size, p['fc2.weight'], p['fc2.bias']);
    return { logits, hidden, preActivation };
  }

  /** Loss, accuracy and the gradient of every parameter for one batch. */
  lossAndGradients(batch: ClassificationBatch): { loss: number; accuracy: number; grads: Record<string, Float32Array> } {
    const p = this.p();
    const { logits, hidden, preActivation } = this.forward(batch.x, batch.size);
    const { loss, dLogits, accuracy } = softmaxCrossEntropy(logits, batch.y, this.options.numClasses);
    const fc2 = linearBackward(hidden, dLogits, batch.size, p['fc2.weight'], true);
    const dPre = fc2.dx!.map((g, i) => (preActivation[i]! > 0 ? g : 0));
    const fc1 = linearBackward(batch.x, dPre, batch.size, p['fc1.weight'], false);
    return {
      loss,
      accuracy,
      grads: { 'fc1.weight': fc1.dWeight, 'fc1.bias': fc1.dBias, 'fc2.weight': fc2.dWeight, 'fc2.bias': fc2.dBias },
    };
  }

  override trainingStep(batch: ClassificationBatch): TrainingStepOutput {
    const { loss, accuracy, grads } = this.lossAndGradients(batch);
    this.log('train_loss', loss, { progBar: false });
    this.log('train_acc', accuracy, { onStep: false, onEpoch: true, batchSize: batch.size });
    return { loss, grads };
  }

  override validationStep(batch: ClassificationBatch): number {
    const { logits } = this.forward(batch.x, batch.size);
    const { loss, accuracy } = softmaxCrossEntropy(logits, batch.y, this.options.numClasses);
    this.log('val_loss', loss, { progBar: true, batchSize: batch.size });
    this.log('val_acc', accuracy, { progBar: true, batchSize: batch.size });
    return loss;
  }

  override configureOptimizers(): OptimizerConfig {
    const params = this.namedParameters();
    const lr = this.options.lr ?? (this.options.optimizer === 'adam' ? 1e-2 : 0.1);
    const optimizer: Optimizer =
      this.options.optimizer === 'adam' ? new Adam(params, { lr }) : new SGD(params, { lr, momentum: this.options.momentum ?? 0.9 });
    if (this.options.lrStepSize === undefined) return optimizer;
    return { optimizer, lrScheduler: { scheduler: new StepLR(optimizer, { stepSize: this.options.lrStepSize, gamma: this.options.gamma ?? 0.5 }), interval: 'epoch' } };
  }
}
