import { Rng } from '../rng.js';
import { tensorF32, type F32Tensor } from '../tensor.js';

/** PyTorch's default nn.Linear initialisation: U(-1/√fanIn, 1/√fanIn) for weight and bias. */
export function initLinear(rng: Rng, outFeatures: number, inFeatures: number): { weight: F32Tensor; bias: F32Tensor } {
  const bound = 1 / Math.sqrt(inFeatures);
  const weight = tensorF32([outFeatures, inFeatures]);
  const bias = tensorF32([outFeatures]);
  for (let i = 0; i < weight.data.length; i++) weight.data[i] = (rng.uniform() * 2 - 1) * bound;
  for (let i = 0; i < bias.data.length; i++) bias.data[i] = (rng.uniform() * 2 - 1) * bound;
  return { weight, bias };
}

/** y[b, o] = Σ_i x[b, i]·W[o, i] + bias[o], row-major. */
export function linearForward(x: Float32Array, rows: number, weight: F32Tensor, bias: F32Tensor): Float32Array {
  const [outF, inF] = weight.shape as [number, number];
  const w = weight.data;
  const y = new Float32Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let sum = bias.data[o]!;
      const wo = o * inF;
      const xr = r * inF;
      for (let i = 0; i < inF; i++) sum += x[xr + i]! * w[wo + i]!;
      y[r * outF + o] = sum;
    }
  }
  return y;
}

/** Gradients of a linear layer given dL/dy; `dx` only when asked (not for the first layer). */
export function linearBackward(
  x: Float32Array,
  dy: Float32Array,
  rows: number,
  weight: F32Tensor,
  wantInputGrad: boolean,
): { dWeight: Float32Array; dBias: Float32Array; dx: Float32Array | undefined } {
  const [outF, inF] = weight.shape as [number, number];
  const dWeight = new Float32Array(outF * inF);
  const dBias = new Float32Array(outF);
  const dx = wantInputGrad ? new Float32Array(rows * inF) : undefined;
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      const g = dy[r * outF + o]!;
      if (g === 0) continue;
      dBias[o] = dBias[o]! + g;
      const wo = o * inF;
      const xr = r * inF;
      for (let i = 0; i < inF; i++) {
        dWeight[wo + i] = dWeight[wo + i]! + g * x[xr + i]!;
        if (dx) dx[xr + i] = dx[xr + i]! + g * weight.data[wo + i]!;
      }
    }
  }
  return { dWeight, dBias, dx };
}

export function relu(z: Float32Array): Float32Array {
  return z.map((v) => (v > 0 ? v : 0));
}

/** Mean softmax cross-entropy over rows, its gradient w.r.t. the logits, and the accuracy. */
export function softmaxCrossEntropy(logits: Float32Array, labels: Int32Array, classes: number): { loss: number; dLogits: Float32Array; accuracy: number } {
  const rows = labels.length;
  const dLogits = new Float32Array(logits.length);
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < classes; c++) {
      if (logits[base + c]! > max) {
        max = logits[base + c]!;
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[base + c]! - max);
    const label = labels[r]!;
    loss += -(logits[base + label]! - max - Math.log(sum));
    if (argmax === label) correct += 1;
    for (let c = 0; c < classes; c++) {
      const p = Math.exp(logits[base + c]! - max) / sum;
      dLogits[base + c] = (p - (c === label ? 1 : 0)) / rows;
    }
  }
  return { loss: loss / rows, dLogits, accuracy: correct / rows };
}
