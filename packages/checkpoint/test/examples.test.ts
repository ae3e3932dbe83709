/**
 * The README's runnable examples: the quickstart runs, and the stand-alone Python reader written
 * from the README's format description reads a checkpoint with every kind of value exactly as the
 * TypeScript reader does.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bfloat16ToFloat32, float16ToFloat32, isTensor, loadCheckpoint, saveCheckpoint, type Tensor } from '../src/index.js';
import { dtypeOfArray } from '../src/tensor.js';
import { ensureBuilt } from './crash/build.js';
import { findPython, richCheckpoint, tempDir } from './helpers.js';

const run = promisify(execFile);
const examples = fileURLToPath(new URL('../examples/', import.meta.url));


let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  await ensureBuilt();
  tmp = await tempDir();
}, 180_000);
afterAll(async () => {
  await tmp?.cleanup();
});

it('quickstart.mjs runs and loads what it saved', async () => {
  const { stdout } = await run(process.execPath, [join(examples, 'quickstart.mjs'), join(tmp.dir, 'qs', 'epoch-3.safetensors')]);
  expect(stdout).toContain('strata-checkpoint v1');
  expect(stdout).toContain('state_dict.encoder~1weight: F32[2,3]');
  expect(stdout).toContain('partial state_dict keys: encoder.weight, encoder.bias');
  expect(stdout).toContain('epoch 3 step 1200n best -Infinity missing 0 unexpected 0');
});

/** The same summary read_checkpoint.py prints, computed from what the TypeScript reader returns. */
function summary(value: unknown): unknown {
  const bigOrNumber = (v: bigint): unknown => (v > 2n ** 53n || v < -(2n ** 53n) ? v.toString() : Number(v));
  const float = (v: number): unknown => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : Object.is(v, -0) ? '-0.0' : v);
  const tensorSummary = (t: Tensor): unknown => {
    const raw = t.data as unknown as ArrayLike<number | bigint>;
    let values: unknown[];
    if (t.dtype === 'F16') values = [...float16ToFloat32(raw as Uint16Array)].map(float);
    else if (t.dtype === 'BF16') values = [...bfloat16ToFloat32(raw as Uint16Array)].map(float);
    else if (t.dtype === 'BOOL') values = [...(raw as Uint8Array)].map((b) => b === 1);
    else values = Array.from(raw, (v) => (typeof v === 'bigint' ? bigOrNumber(v) : t.dtype.startsWith('F') ? float(v) : v));
    return { dtype: t.dtype, shape: t.shape, values };
  };
  if (isTensor(value)) return tensorSummary(value);
  if (value instanceof ArrayBuffer) return summary(new Uint8Array(value));
  if (ArrayBuffer.isView(value)) {
    const bytes = value instanceof DataView || value instanceof Uint8ClampedArray ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : value;
    const dtype = dtypeOfArray(bytes)!;
    return tensorSummary({ dtype, shape: [(bytes as unknown as ArrayLike<unknown>).length], data: bytes });
  }
  if (value === undefined) return '<undefined>';
  if (typeof value === 'number') return float(value);
  if (typeof value === 'bigint') return bigOrNumber(value);
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return null;
    // Python's isoformat: microseconds only when non-zero.
    return value.getUTCMilliseconds() === 0 ? value.toISOString().replace('.000Z', '+00:00') : value.toISOString().replace('Z', '000+00:00');
  }
  if (value instanceof Map) return [...value.entries()].map(([k, v]) => [summary(k), summary(v)]);
  if (value instanceof Set) return [...value].map(summary);
  if (Array.isArray(value)) return value.map(summary);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, summary(v)]));
  return value;
}

const python = findPython();
describe.skipIf(python === undefined)('read_checkpoint.py', () => {
  it('reads every value of a checkpoint exactly like the TypeScript reader', async () => {
    const path = join(tmp.dir, 'rich.safetensors');
    await saveCheckpoint(richCheckpoint(), path);
    const { stdout } = await run(python!, [join(examples, 'read_checkpoint.py'), path]);
    const fromPython = JSON.parse(stdout) as { format: string; version: number; tree: unknown };
    expect(fromPython.format).toBe('strata-checkpoint');
    expect(fromPython.version).toBe(1);
    expect(fromPython.tree).toEqual(summary(await loadCheckpoint(path)));
  });
});
