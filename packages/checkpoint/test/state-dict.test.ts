import { describe, expect, it } from 'vitest';

import { StateDictMismatchError, deserializeCheckpoint, loadStateDict, serializeCheckpoint, tensor, type Tensor } from '../src/index.js';

function model() {
  return {
    'encoder.weight': tensor('F32', [2, 2]),
    'encoder.bias': tensor('F32', [2]),
    'head.weight': tensor('BF16', [2]),
  };
}

function trained() {
  return {
    'encoder.weight': tensor('F32', [2, 2], [1, 2, 3, 4]),
    'encoder.bias': tensor('F32', [2], [5, 6]),
    'head.weight': tensor('BF16', [2], [1, -1]),
  };
}

describe('loadStateDict', () => {
  it('copies matching tensors into the target in place, after a save/load round trip', () => {
    const target = model();
    const weightMemory = target['encoder.weight'].data;
    const loaded = deserializeCheckpoint(serializeCheckpoint({ state_dict: trained() })) as { state_dict: Record<string, Tensor> };
    const result = loadStateDict(target, loaded.state_dict);
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(target['encoder.weight'].data).toBe(weightMemory);
    expect([...(target['encoder.weight'].data as Float32Array)]).toEqual([1, 2, 3, 4]);
    expect([...(target['head.weight'].data as Uint16Array)]).toEqual([0x3f80, 0xbf80]);
  });

  it('strict mode throws listing missing and unexpected keys, and copies nothing', () => {
    const target = model();
    const source: Record<string, Tensor> = { ...trained(), 'extra.thing': tensor('U8', [1]) };
    delete source['encoder.bias'];
    const error = (() => {
      try {
        loadStateDict(target, source);
      } catch (e) {
        return e;
      }
    })() as StateDictMismatchError;
    expect(error).toBeInstanceOf(StateDictMismatchError);
    expect(error.missingKeys).toEqual(['encoder.bias']);
    expect(error.unexpectedKeys).toEqual(['extra.thing']);
    expect(error.message).toContain('encoder.bias');
    expect(error.message).toContain('extra.thing');
    expect([...(target['encoder.weight'].data as Float32Array)]).toEqual([0, 0, 0, 0]);
  });

  it('non-strict mode loads what matches and reports the rest', () => {
    const target = model();
    const source: Record<string, Tensor> = { ...trained(), 'extra.thing': tensor('U8', [1]) };
    delete source['encoder.bias'];
    expect(loadStateDict(target, source, { strict: false })).toEqual({ missingKeys: ['encoder.bias'], unexpectedKeys: ['extra.thing'] });
    expect([...(target['encoder.weight'].data as Float32Array)]).toEqual([1, 2, 3, 4]);
    expect([...(target['encoder.bias'].data as Float32Array)]).toEqual([0, 0]);
  });

  it.each([true, false])('a shape or dtype mismatch throws with strict=%s and copies nothing', (strict) => {
    const target = model();
    const wrongShape = { ...trained(), 'encoder.weight': tensor('F32', [4], [1, 2, 3, 4]) };
    const e1 = (() => {
      try {
        loadStateDict(target, wrongShape, { strict });
      } catch (e) {
        return e;
      }
    })() as StateDictMismatchError;
    expect(e1).toBeInstanceOf(StateDictMismatchError);
    expect(e1.mismatchedKeys).toEqual([{ key: 'encoder.weight', expected: { dtype: 'F32', shape: [2, 2] }, actual: { dtype: 'F32', shape: [4] } }]);
    expect([...(target['encoder.bias'].data as Float32Array)]).toEqual([0, 0]);
    const wrongType = { ...trained(), 'head.weight': tensor('F16', [2]) };
    expect(() => loadStateDict(target, wrongType, { strict })).toThrow(/head\.weight \(expected BF16\[2\], got F16\[2\]\)/);
    expect(() => loadStateDict(target, { ...trained(), 'encoder.bias': 3 }, { strict })).toThrow(StateDictMismatchError);
  });

  it.each([true, false])('a malformed source or target tensor throws with strict=%s before anything is copied', (strict) => {
    const thrown = (fn: () => unknown): StateDictMismatchError => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(StateDictMismatchError);
        return e as StateDictMismatchError;
      }
      throw new Error('expected StateDictMismatchError');
    };
    const sources: [string, Record<string, unknown>][] = [
      // Listed after a good key, so a copy in key order would already have written into the target.
      ['more elements than its shape', { a: tensor('F32', [2], [1, 2]), b: { dtype: 'F32', shape: [2], data: new Float32Array(3) } }],
      ['fewer elements than its shape', { a: tensor('F32', [2], [1, 2]), b: { dtype: 'F32', shape: [2], data: new Float32Array([7]) } }],
      ['an F32 tensor backed by an Int32Array', { a: tensor('F32', [2], [1, 2]), b: { dtype: 'F32', shape: [2], data: new Int32Array([1, 2]) } }],
      ['a BOOL tensor holding 2', { a: tensor('F32', [2], [1, 2]), m: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } }],
    ];
    for (const [what, source] of sources) {
      const target = { a: tensor('F32', [2]), b: tensor('F32', [2], [9, 9]), m: tensor('BOOL', [1]) };
      const complete = { b: target.b, m: target.m, ...source };
      const error = thrown(() => loadStateDict(target, complete, { strict }));
      const bad = Object.keys(source).find((k) => k !== 'a')!;
      expect(error.mismatchedKeys.map((m) => m.key), what).toEqual([bad]);
      expect(error.mismatchedKeys[0]!.problem, what).toMatch(/^source: /);
      expect(error.message, what).toContain(bad);
      expect([...(target.a.data as Float32Array)], what).toEqual([0, 0]);
      expect([...(target.b.data as Float32Array)], what).toEqual([9, 9]);
    }
    const badTarget = { a: tensor('F32', [2]), b: { dtype: 'F32' as const, shape: [2], data: new Float32Array(3) } };
    const error = thrown(() => loadStateDict(badTarget, { a: tensor('F32', [2], [1, 2]), b: tensor('F32', [2], [3, 4]) }, { strict }));
    expect(error.mismatchedKeys.map((m) => [m.key, m.problem])).toEqual([['b', 'target: F32[2] needs 8 bytes but its data has 12']]);
    expect([...(badTarget.a.data as Float32Array)]).toEqual([0, 0]);
  });

  it('accepts Maps and bare typed arrays on either side', () => {
    const target = new Map<string, Tensor | ArrayBufferView>([['w', new Float32Array(2)]]);
    loadStateDict(target, new Map([['w', tensor('F32', [2], [7, 8])]]));
    expect([...(target.get('w') as Float32Array)]).toEqual([7, 8]);
  });
});
