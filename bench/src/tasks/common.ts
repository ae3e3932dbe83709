import type { Tensor } from '@strata/checkpoint';
import pLimit from 'p-limit';

import { asBytes, checkpointLayout, tensorBytes, totalBytes, verifyTensorBytes, type TensorSpec } from '../lib/data.js';
import { measurePhase, type PhaseResult } from '../lib/measure.js';

export interface TaskOutput {
  phases: PhaseResult[];
  info?: Record<string, unknown> | undefined;
}

/** Parameters every task gets from the runner, plus its own. */
export interface TaskParams {
  [key: string]: unknown;
  scale?: number;
}

export type Task = (params: TaskParams) => Promise<TaskOutput>;

export interface BenchCheckpoint {
  specs: TensorSpec[];
  checkpoint: { state_dict: Record<string, Tensor>; epoch: number; global_step: number; hyper_parameters: Record<string, unknown> };
  bytes: number;
}

/** The benchmark checkpoint as Strata takes it: tensors under `state_dict` plus a little plain state. */
export function buildCheckpoint(scale: number): BenchCheckpoint {
  const specs = checkpointLayout(scale);
  const state: Record<string, Tensor> = {};
  for (const spec of specs) state[spec.key] = { dtype: spec.dtype, shape: spec.shape, data: tensorBytes(spec) };
  return {
    specs,
    checkpoint: { state_dict: state, epoch: 3, global_step: 12_345, hyper_parameters: { lr: 3e-4, layers: 15, note: 'strata bench' } },
    bytes: totalBytes(specs),
  };
}

/** Checks a checkpoint loaded by Strata against the layout (every tensor, sampled bytes). */
export function verifyLoaded(specs: readonly TensorSpec[], loaded: Record<string, unknown>, who: string, only?: (key: string) => boolean): number {
  const state = loaded.state_dict as Record<string, Tensor | undefined> | undefined;
  if (!state) throw new Error(`${who}: loaded checkpoint has no state_dict`);
  let bytes = 0;
  for (const spec of specs) {
    if (only && !only(spec.key)) continue;
    const t = state[spec.key];
    if (!t) throw new Error(`${who}: tensor ${spec.key} is missing`);
    verifyTensorBytes(spec, asBytes(t.data), who);
    bytes += spec.byteLength;
  }
  return bytes;
}

export function numberParam(params: TaskParams, name: string): number {
  const v = params[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`task parameter ${name} must be a number`);
  return v;
}

export function stringParam(params: TaskParams, name: string): string {
  const v = params[name];
  if (typeof v !== 'string') throw new Error(`task parameter ${name} must be a string`);
  return v;
}

/** Runs `fn` over `items` with at most `concurrency` in flight (p-limit, as a user would). */
export function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const limit = pLimit(concurrency);
  return Promise.all(items.map((item, index) => limit(() => fn(item, index))));
}

/** Small-object payload `i`: `size` bytes whose first bytes spell the index. */
export function smallPayload(i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const tag = Buffer.from(`object-${i}:`);
  for (let k = 0; k < size; k++) out[k] = (i * 31 + k * 7) & 0xff;
  out.set(tag.subarray(0, Math.min(tag.length, size)));
  return out;
}

export function checkSmallPayload(i: number, bytes: Uint8Array, size: number, who: string): void {
  const expected = smallPayload(i, size);
  if (bytes.length !== size || Buffer.compare(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), Buffer.from(expected)) !== 0) {
    throw new Error(`${who}: object ${i} came back wrong (${bytes.length} bytes)`);
  }
}

/** One contender's operations for the small-object scenario (5, 8-*-c). */
export interface SmallObjectClient {
  /** The object name (key, path) of object `i`. */
  nameOf(i: number): string;
  write(name: string, payload: Buffer): Promise<unknown>;
  /** Every object name under the contender's prefix. */
  list(): Promise<string[]>;
  read(name: string): Promise<Uint8Array>;
  /** Removes what the run wrote and releases the client; errors are ignored. */
  cleanup(names: string[]): Promise<unknown>;
}

/** Writes `count` objects (bounded concurrency), lists them, reads them back: three measured phases. */
export async function runSmallObjects(params: TaskParams, who: string, client: SmallObjectClient): Promise<TaskOutput> {
  const count = numberParam(params, 'count');
  const size = numberParam(params, 'size');
  const concurrency = numberParam(params, 'concurrency');
  const names = Array.from({ length: count }, (_, i) => client.nameOf(i));
  const payloads = names.map((_, i) => Buffer.from(smallPayload(i, size)));
  const phases: PhaseResult[] = [];
  try {
    phases.push(
      await measurePhase('write', async () => {
        await mapLimit(names, concurrency, (name, i) => client.write(name, payloads[i]!));
        return { bytes: count * size, items: count };
      }),
    );
    let listed: string[] = [];
    phases.push(
      await measurePhase('list', async () => {
        listed = await client.list();
        return { items: listed.length };
      }),
    );
    if (listed.length !== count) throw new Error(`${who}: listed ${listed.length} objects, expected ${count}`);
    let got: Uint8Array[] = [];
    phases.push(
      await measurePhase('read', async () => {
        got = await mapLimit(names, concurrency, (name) => client.read(name));
        return { bytes: count * size, items: count };
      }),
    );
    got.forEach((bytes, i) => checkSmallPayload(i, bytes, size, who));
  } finally {
    await client.cleanup(names).catch(() => undefined);
  }
  return { phases };
}

/** `obj-00042.bin`: zero-padded so listings sort like the indexes. */
export const smallObjectName = (i: number): string => `obj-${String(i).padStart(5, '0')}.bin`;
