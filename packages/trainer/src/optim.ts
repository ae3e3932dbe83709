import type { Tensor } from '@strata/checkpoint';
import { f32Values, isTensor, sameShape, type F32Tensor } from './tensor.js';
import type { OptimizerStateDict } from './types.js';

export type NamedParameters = Iterable<readonly [string, F32Tensor]> | Record<string, F32Tensor>;

/** A group of parameters with its own hyper-parameters (PyTorch's param_groups). */
export interface ParamGroupSpec<H> {
  params: NamedParameters;
  options?: Partial<H>;
}

/** Hyper-parameters are stored under PyTorch's names so checkpoints read the same. */
export type Hyper = Record<string, number | boolean | number[]>;

export interface ParamGroup<H extends Hyper> {
  names: string[];
  params: F32Tensor[];
  hyper: H & { lr: number; initial_lr?: number };
}

/** Per-parameter optimizer state: buffers are Float32Arrays, counters are numbers. */
export type ParamState = Record<string, Float32Array | number>;

export type Gradients = Record<string, Float32Array | Tensor | undefined>;

function toPairs(params: NamedParameters): Array<readonly [string, F32Tensor]> {
  if (Symbol.iterator in params) return [...(params as Iterable<readonly [string, F32Tensor]>)];
  return Object.entries(params);
}

function isGroupList<H>(value: unknown): value is ParamGroupSpec<H>[] {
  return Array.isArray(value) && value.length > 0 && value.every((g) => typeof g === 'object' && g !== null && 'params' in g && !isTensor(g));
}

/**
 * Base optimizer. Holds named F32 parameters and updates them in place from the gradients a
 * module's `trainingStep` returns. State is keyed by parameter index, like PyTorch's.
 */
export abstract class Optimizer<H extends Hyper = Hyper> {
  readonly paramGroups: ParamGroup<H>[] = [];
  protected state = new Map<string, ParamState>();
  private readonly defaults: H & { lr: number };

  constructor(params: NamedParameters | ParamGroupSpec<H>[], defaults: H & { lr: number }) {
    this.defaults = defaults;
    const groups: ParamGroupSpec<H>[] = isGroupList<H>(params) ? params : [{ params }];
    const seen = new Set<string>();
    for (const group of groups) {
      const pairs = toPairs(group.params);
      for (const [name, tensor] of pairs) {
        if (seen.has(name)) throw new Error(`Parameter "${name}" appears in more than one parameter group`);
        if (tensor.dtype !== 'F32' || !(tensor.data instanceof Float32Array)) {
          throw new TypeError(`Parameter "${name}" must be an F32 tensor backed by a Float32Array`);
        }
        seen.add(name);
      }
      const hyper = { ...defaults, ...(group.options ?? {}) } as H & { lr: number };
      this.paramGroups.push({ names: pairs.map(([n]) => n), params: pairs.map(([, t]) => t), hyper: { ...hyper, initial_lr: hyper.lr } });
    }
    if (seen.size === 0) throw new Error(`${this.constructor.name} got an empty parameter list`);
  }

  /** Names of every parameter this optimizer updates. */
  get parameterNames(): string[] {
    return this.paramGroups.flatMap((g) => g.names);
  }

  /** Applies one update. Parameters with no gradient in `grads` are left alone (PyTorch's `grad is None`). */
  step(grads: Gradients): void {
    for (const group of this.paramGroups) {
      group.names.forEach((name, i) => {
        const grad = grads[name];
        if (grad === undefined) return;
        const param = group.params[i]!;
        const g = grad instanceof Float32Array ? grad : f32Values(grad, `gradient of ${name}`);
        if (g.length !== param.data.length) {
          throw new RangeError(`Gradient of "${name}" has ${g.length} values, parameter has ${param.data.length}`);
        }
        let state = this.state.get(name);
        if (!state) this.state.set(name, (state = {}));
        this.update(group.hyper, param.data, g, state);
      });
    }
  }

  protected abstract update(hyper: H & { lr: number }, param: Float32Array, grad: Float32Array, state: ParamState): void;

  /** Live view of the state as PyTorch lays it out: `{ state: { "0": {...} }, param_groups: [...] }`. */
  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    const paramGroups: OptimizerStateDict['param_groups'] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const ids: number[] = [];
      group.names.forEach((name, i) => {
        const s = this.state.get(name);
        if (s && Object.keys(s).length > 0) {
          const shape = group.params[i]!.shape;
          state[String(index)] = Object.fromEntries(
            Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : ({ dtype: 'F32', shape: [...shape], data: v } satisfies F32Tensor)]),
          );
        }
        ids.push(index++);
      });
      paramGroups.push({ ...structuredClone(group.hyper), params: ids, param_names: [...group.names] });
    }
    return { state, param_groups: paramGroups };
  }

  loadStateDict(saved: OptimizerStateDict): void {
    const what = this.constructor.name;
    if (!saved || !Array.isArray(saved.param_groups) || typeof saved.state !== 'object') {
      throw new Error(`${what}.loadStateDict: not an optimizer state dict`);
    }
    if (saved.param_groups.length !== this.paramGroups.length) {
      throw new Error(`${what}.loadStateDict: the saved state has ${saved.param_groups.length} parameter groups, this optimizer has ${this.paramGroups.length}`);
    }
    const indexToParam = new Map<string, { name: string; tensor: F32Tensor }>();
    saved.param_groups.forEach((savedGroup, g) => {
      const group = this.paramGroups[g]!;
      if (savedGroup.params.length !== group.params.length) {
        throw new Error(`${what}.loadStateDict: saved parameter group ${g} has ${savedGroup.params.length} parameters, this one has ${group.params.length}`);
      }
      savedGroup.params.forEach((id, i) => indexToParam.set(String(id), { name: group.names[i]!, tensor: group.params[i]! }));
    });
    const nextState = new Map<string, ParamState>();
    for (const [id, entries] of Object.entries(saved.state)) {
      const target = indexToParam.get(id);
      if (!target) throw new Error(`${what}.loadStateDict: state for parameter index ${id}, which no group lists`);
      const restored: ParamState = {};
      for (const [key, value] of Object.entries(entries)) {
        if (typeof value === 'number') {
          restored[key] = value;
        } else if (isTensor(value)) {
          if (!sameShape(value.shape, target.tensor.shape)) {
            throw new Error(`${what}.loadStateDict: ${key} of "${target.name}" has shape [${value.shape.join(', ')}], parameter has [${target.tensor.shape.join(', ')}]`);
          }
          restored[key] = f32Values(value, `${key} of ${target.name}`).slice();
        } else {
          throw new Error(`${what}.loadStateDict: unsupported state value ${key} for "${target.name}"`);
        }
      }
      nextState.set(target.name, restored);
    }
    saved.param_groups.forEach((savedGroup, g) => {
      const { params: _ids, param_names: _names, ...hyper } = savedGroup;
      this.paramGroups[g]!.hyper = { ...this.defaults, ...structuredClone(hyper) };
    });
    this.state = nextState;
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

type SGDHyper = { lr: number; momentum: number; dampening: number; weight_decay: number; nesterov: boolean };

/** Stochastic gradient descent with momentum, Nesterov and weight decay, as `torch.optim.SGD`. */
export class SGD extends Optimizer<SGDHyper> {
  constructor(params: NamedParameters | ParamGroupSpec<SGDHyper>[], options: SGDOptions) {
    const momentum = options.momentum ?? 0;
    const dampening = options.dampening ?? 0;
    const nesterov = options.nesterov ?? false;
    if (!(options.lr >= 0)) throw new RangeError(`SGD: invalid learning rate ${options.lr}`);
    if (momentum < 0) throw new RangeError(`SGD: invalid momentum ${momentum}`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) throw new RangeError('SGD: Nesterov momentum needs momentum > 0 and zero dampening');
    super(params, { lr: options.lr, momentum, dampening, weight_decay: options.weightDecay ?? 0, nesterov });
  }

  protected update(h: SGDHyper, p: Float32Array, g: Float32Array, state: ParamState): void {
    const { lr, momentum, dampening, weight_decay: wd, nesterov } = h;
    let buf = state.momentum_buffer as Float32Array | undefined;
    const first = momentum !== 0 && buf === undefined;
    if (first) state.momentum_buffer = buf = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) {
      let d = g[i]! + wd * p[i]!;
      if (momentum !== 0) {
        buf![i] = first ? d : momentum * buf![i]! + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf![i]! : buf![i]!;
      }
      p[i] = p[i]! - lr * d;
    }
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

type AdamHyper = { lr: number; betas: number[]; eps: number; weight_decay: number };

/** Adam (Kingma & Ba) with L2 weight decay, as `torch.optim.Adam`. */
export class Adam extends Optimizer<AdamHyper> {
  constructor(params: NamedParameters | ParamGroupSpec<AdamHyper>[], options: AdamOptions = {}) {
    const lr = options.lr ?? 1e-3;
    const betas = options.betas ?? [0.9, 0.999];
    if (!(lr >= 0)) throw new RangeError(`Adam: invalid learning rate ${lr}`);
    if (!(betas[0] >= 0 && betas[0] < 1 && betas[1] >= 0 && betas[1] < 1)) throw new RangeError(`Adam: invalid betas [${betas.join(', ')}]`);
    super(params, { lr, betas: [...betas], eps: options.eps ?? 1e-8, weight_decay: options.weightDecay ?? 0 });
  }

  protected update(h: AdamHyper, p: Float32Array, g: Float32Array, state: ParamState): void {
    const [beta1, beta2] = h.betas as [number, number];
    const { lr, eps, weight_decay: wd } = h;
    if (state.step === undefined) {
      state.step = 0;
      state.exp_avg = new Float32Array(p.length);
      state.exp_avg_sq = new Float32Array(p.length);
    }
    const step = (state.step as number) + 1;
    state.step = step;
    const m = state.exp_avg as Float32Array;
    const v = state.exp_avg_sq as Float32Array;
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
    const stepSize = lr / biasCorrection1;
    for (let i = 0; i < p.length; i++) {
      const grad = g[i]! + wd * p[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * grad;
      v[i] = beta2 * v[i]! + (1 - beta2) * grad * grad;
      const denom = Math.sqrt(v[i]!) / biasCorrection2Sqrt + eps;
      p[i] = p[i]! - (stepSize * m[i]!) / denom;
    }
  }
}
