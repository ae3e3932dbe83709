import type { Tensor } from '@strata/checkpoint';
import { Module, type OptimizerConfig, type TrainingStepOutput } from '../module.js';
import { Adam } from '../optim.js';
import { Rng } from '../rng.js';
import { f32Values, tensorF32, type F32Tensor } from '../tensor.js';
import type { ClassificationBatch } from './data.js';
import { initLinear, linearBackward, linearForward, relu, softmaxCrossEntropy } from './layers.js';

export interface FineTuneClassifierOptions {
  /** Pretrained encoder weights: `weight` [hidden, input] and `bias` [hidden]. */
  encoder: { weight: Tensor; bias: Tensor };
  numClasses: number;
  seed?: number;
  lr?: number;
}

/**
 * Lightning's partial-loading example: a frozen, pretrained encoder (Linear → ReLU) with a trained
 * head. The encoder is neither optimised nor saved, so `stateDict()` holds only `head.*` and
 * `strictLoading` is false: its checkpoints lack `encoder.*`, and full checkpoints have extra keys.
 */
export class FineTuneClassifier extends Module<ClassificationBatch> {
  readonly encoderWeight: F32Tensor;
  readonly encoderBias: F32Tensor;
  readonly headWeight: F32Tensor;
  readonly headBias: F32Tensor;
  readonly numClasses: number;
  private readonly lr: number;

  constructor(options: FineTuneClassifierOptions) {
    super();
    this.strictLoading = false;
    this.numClasses = options.numClasses;
    this.lr = options.lr ?? 1e-2;
    this.saveHyperparameters({ numClasses: options.numClasses, lr: this.lr });
    this.encoderWeight = this.registerParameter('encoder.weight', tensorF32(options.encoder.weight.shape, f32Values(options.encoder.weight, 'encoder.weight').slice()));
    this.encoderBias = this.registerParameter('encoder.bias', tensorF32(options.encoder.bias.shape, f32Values(options.encoder.bias, 'encoder.bias').slice()));
    const hidden = this.encoderWeight.shape[0]!;
    const head = initLinear(new Rng(options.seed ?? 0), options.numClasses, hidden);
    this.headWeight = this.registerParameter('head.weight', head.weight);
    this.headBias = this.registerParameter('head.bias', head.bias);
  }

  /** Leaves the frozen encoder out, exactly like the Lightning docs' `state_dict` override. */
  override stateDict(): Record<string, Tensor> {
    return Object.fromEntries(Object.entries(super.stateDict()).filter(([name]) => !name.startsWith('encoder.')));
  }

  private encode(x: Float32Array, size: number): Float32Array {
    return relu(linearForward(x, size, this.encoderWeight, this.encoderBias));
  }

  override trainingStep(batch: ClassificationBatch): TrainingStepOutput {
    const features = this.encode(batch.x, batch.size);
    const logits = linearForward(features, batch.size, this.headWeight, this.headBias);
    const { loss, dLogits } = softmaxCrossEntropy(logits, batch.y, this.numClasses);
    const { dWeight, dBias } = linearBackward(features, dLogits, batch.size, this.headWeight, false);
    this.log('train_loss', loss);
    return { loss, grads: { 'head.weight': dWeight, 'head.bias': dBias } };
  }

  override validationStep(batch: ClassificationBatch): number {
    const logits = linearForward(this.encode(batch.x, batch.size), batch.size, this.headWeight, this.headBias);
    const { loss, accuracy } = softmaxCrossEntropy(logits, batch.y, this.numClasses);
    this.log('val_loss', loss, { batchSize: batch.size });
    this.log('val_acc', accuracy, { batchSize: batch.size });
    return loss;
  }

  override configureOptimizers(): OptimizerConfig {
    // Only the head is trained.
    return new Adam([['head.weight', this.headWeight], ['head.bias', this.headBias]], { lr: this.lr });
  }
}
