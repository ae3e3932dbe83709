import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '@strata/checkpoint';
import { Module, Trainer, regressionLoader, makeRegressionData, type CheckpointDict, type LoadStateDictResult, type OptimizerConfig, type RegressionBatch, type Tensor } from '../src/index.js';
import { freshRoot, quietOptions } from './helpers.js';

/**
 * Stands in for another engine (TensorFlow.js, ONNX Runtime...): it owns its weights in its own
 * format (Float64Array) and its own optimizer, and trains itself in `fitBatch`.
 */
class TinyEngine {
  weights = new Float64Array(4);
  velocity = new Float64Array(4);
  iterations = 0;
  constructor(readonly lr: number) {}
  fitBatch(x: Float32Array, y: Float32Array, size: number): number {
    const features = 3;
    const grad = new Float64Array(4);
    let loss = 0;
    for (let r = 0; r < size; r++) {
      let pred = this.weights[3]!;
      for (let f = 0; f < features; f++) pred += this.weights[f]! * x[r * features + f]!;
      const diff = pred - y[r]!;
      loss += diff * diff;
      for (let f = 0; f < features; f++) grad[f]! += (2 * diff * x[r * features + f]!) / size;
      grad[3]! += (2 * diff) / size;
    }
    for (let i = 0; i < 4; i++) {
      this.velocity[i] = 0.9 * this.velocity[i]! + grad[i]!;
      this.weights[i]! -= this.lr * this.velocity[i]!;
    }
    this.iterations += 1;
    return loss / size;
  }
}

/** The wrapping pattern from the README: manual optimization plus stateDict/loadStateDict. */
class EngineModule extends Module<RegressionBatch> {
  readonly engine = new TinyEngine(0.05);
  constructor() {
    super();
    this.automaticOptimization = false;
  }
  override trainingStep(batch: RegressionBatch): number {
    const loss = this.engine.fitBatch(batch.x, batch.y, batch.size);
    this.log('train_loss', loss);
    return loss;
  }
  override configureOptimizers(): OptimizerConfig {
    return null; // the engine optimises itself
  }
  override stateDict(): Record<string, Tensor> {
    return { 'linear.kernel': { dtype: 'F64', shape: [4], data: this.engine.weights } };
  }
  override loadStateDict(stateDict: Record<string, Tensor>): LoadStateDictResult {
    this.engine.weights = new Float64Array(stateDict['linear.kernel']!.data as Float64Array);
    return { missingKeys: [], unexpectedKeys: Object.keys(stateDict).filter((k) => k !== 'linear.kernel') };
  }
  override onSaveCheckpoint(checkpoint: CheckpointDict): void {
    checkpoint.engine_optimizer = { velocity: { dtype: 'F64', shape: [4], data: this.engine.velocity }, iterations: this.engine.iterations };
  }
  override onLoadCheckpoint(checkpoint: CheckpointDict): void {
    const saved = checkpoint.engine_optimizer as { velocity: Tensor; iterations: number };
    this.engine.velocity = new Float64Array(saved.velocity.data as Float64Array);
    this.engine.iterations = saved.iterations;
  }
}

describe('wrapping another engine', () => {
  it('resumes an engine that trains itself, bit-identically', async () => {
    const { root } = await freshRoot('memory');
    const data = makeRegressionData({ samples: 96, features: 3, seed: 5 });
    const loader = () => regressionLoader(data, { batchSize: 16, shuffle: true });

    const straight = new EngineModule();
    await new Trainer(quietOptions(root, { maxSteps: 20, seed: 2, enableCheckpointing: false })).fit(straight, { trainDataloaders: loader() });

    const first = new Trainer(quietOptions(root, { maxSteps: 9, seed: 2, enableCheckpointing: false }));
    await first.fit(new EngineModule(), { trainDataloaders: loader() });
    await first.saveCheckpoint(`${root}/engine.ckpt`);
    const saved = await loadCheckpoint(`${root}/engine.ckpt`);
    expect(saved.optimizer_states).toEqual([]);
    expect((saved.state_dict as Record<string, Tensor>)['linear.kernel']!.dtype).toBe('F64');

    const resumed = new EngineModule();
    const trainer = new Trainer(quietOptions(root, { maxSteps: 20, seed: 2, enableCheckpointing: false }));
    await trainer.fit(resumed, { trainDataloaders: loader(), ckptPath: `${root}/engine.ckpt` });
    expect(resumed.engine.iterations).toBe(20);
    expect(Buffer.from(resumed.engine.weights.buffer).equals(Buffer.from(straight.engine.weights.buffer))).toBe(true);
    expect(Buffer.from(resumed.engine.velocity.buffer).equals(Buffer.from(straight.engine.velocity.buffer))).toBe(true);
    // It is learning: the weights moved most of the way from 0 towards the true ones.
    const distance = (w: ArrayLike<number>) => Math.hypot(...[0, 1, 2].map((i) => w[i]! - data.trueWeight[i]!));
    expect(distance(straight.engine.weights)).toBeLessThan(0.5 * distance([0, 0, 0]));
  });
});
