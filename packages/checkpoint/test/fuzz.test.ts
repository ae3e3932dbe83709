/**
 * Property tests of the parser and format. Every case runs in memory and is small, so the whole
 * file stays within a few seconds while covering well over 10 000 cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { DTYPES, CorruptCheckpointError, deserializeCheckpoint, dtypeByteSize, serializeCheckpoint, serializeSafetensors, tensor, type DType, type Tensor } from '../src/index.js';
import { JsonParseError, parseJson } from '../src/json.js';

/** STRATA_FUZZ_SCALE=10 runs ten times as many cases (for a longer soak). */
const scale = Math.max(1, Number(process.env.STRATA_FUZZ_SCALE ?? 1) || 1);
const RUNS = Object.fromEntries(
  Object.entries({
    randomBytes: 2500,
    structuredHeaders: 2500,
    roundTrip: 800,
    byteFlips: 2000,
    truncation: 1000,
    jsonValid: 1500,
    jsonMutated: 1500,
  }).map(([k, v]) => [k, v * scale]),
) as Record<'randomBytes' | 'structuredHeaders' | 'roundTrip' | 'byteFlips' | 'truncation' | 'jsonValid' | 'jsonMutated', number>;

/** Either loads or raises CorruptCheckpointError; anything else (TypeError, RangeError...) fails. */
function loadsOrCorrupt(bytes: Uint8Array): 'ok' | 'corrupt' {
  try {
    deserializeCheckpoint(bytes);
    return 'ok';
  } catch (error) {
    if (error instanceof CorruptCheckpointError) return 'corrupt';
    throw error;
  }
}

const encoder = new TextEncoder();
function fileWith(header: string, data: Uint8Array): Uint8Array {
  const json = encoder.encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const dtypeArb = fc.constantFrom(...DTYPES);
const shapeArb = fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 });

const tensorArb: fc.Arbitrary<Tensor> = fc.tuple(dtypeArb, shapeArb).chain(([dtype, shape]) => {
  const n = shape.reduce((a, b) => a * b, 1) * dtypeByteSize(dtype);
  return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => tensor(dtype, shape, dtype === 'BOOL' ? bytes.map((b) => b & 1) : bytes));
});

const typedArrayArb = fc.oneof(
  fc.float32Array({ maxLength: 4 }),
  fc.float64Array({ maxLength: 4 }),
  fc.int32Array({ maxLength: 4 }),
  fc.uint8Array({ maxLength: 4 }),
  fc.int16Array({ maxLength: 4 }),
  fc.uint16Array({ maxLength: 4 }),
  fc.bigInt64Array({ maxLength: 4 }),
);

// "constructor" is left out only because toStrictEqual compares `.constructor`; roundtrip.test.ts covers it.
const keyArb = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('.', '~', '$', 'a.b', '~1', '~0', '', '$tensor', '0', 'prototype')).filter((k) => k !== '__proto__' && k !== 'constructor');

const primitiveArb = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(NaN, -0, Infinity, -Infinity, 0),
  fc.bigInt(),
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
);

const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitiveArb,
    tensorArb,
    typedArrayArb,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 3, noNullPrototype: true }),
    fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), fc.integer({ min: -3, max: 3 })), tie('value')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(primitiveArb, { maxLength: 3 }).map((items) => new Set(items)),
  ),
}));

const checkpointArb = fc.dictionary(keyArb, valueArb, { maxKeys: 4, noNullPrototype: true });

describe('parser properties', () => {
  it('arbitrary bytes load or raise CorruptCheckpointError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        loadsOrCorrupt(bytes);
      }),
      { numRuns: RUNS.randomBytes },
    );
  });

  it('arbitrary bytes behind a plausible length prefix load or raise CorruptCheckpointError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), fc.uint8Array({ maxLength: 32 }), (header, data) => {
        loadsOrCorrupt(fileWith(header, data));
      }),
      { numRuns: RUNS.randomBytes },
    );
  });

  it('structured headers with arbitrary dtypes, shapes and offsets: accepted only when they tile the data exactly', () => {
    const entryArb = fc.record({
      name: fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom('__metadata__', '__proto__', 'a')),
      dtype: fc.oneof(dtypeArb, fc.constantFrom('F8_E4M3', 'x', '')),
      shape: fc.oneof(shapeArb, fc.constant([-1]), fc.constant([1.5]), fc.constant([2 ** 60, 2 ** 60])),
      offsets: fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })),
    });
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 4 }), fc.integer({ min: 0, max: 48 }), (entries, dataLength) => {
        const header = `{${entries.map((e) => `${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: e.shape, data_offsets: e.offsets })}`).join(',')}}`;
        const outcome = loadsOrCorrupt(fileWith(header, new Uint8Array(dataLength)));
        if (outcome === 'ok') {
          // Accepted headers really are valid: offsets tile [0, dataLength) and sizes match.
          const names = new Set(entries.map((e) => e.name));
          expect(names.size).toBe(entries.length);
          const sorted = [...entries].sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]);
          let end = 0;
          for (const e of sorted) {
            expect(e.offsets[0]).toBe(end);
            expect(e.offsets[1] - e.offsets[0]).toBe((e.shape as number[]).reduce((a, b) => a * b, 1) * dtypeByteSize(e.dtype as DType));
            end = e.offsets[1];
          }
          expect(end).toBe(dataLength);
        }
      }),
      { numRuns: RUNS.structuredHeaders },
    );
  });
});

describe('format properties', () => {
  it('any storable object round-trips', () => {
    fc.assert(
      fc.property(checkpointArb, (ckpt) => {
        expect(deserializeCheckpoint(serializeCheckpoint(ckpt))).toStrictEqual(ckpt);
      }),
      { numRuns: RUNS.roundTrip },
    );
  });

  it('flipping any bit of a checkpoint is detected (or changes nothing that is loaded)', () => {
    const ckptArb = fc.record({ step: fc.integer(), w: tensorArb, m: fc.dictionary(keyArb, primitiveArb, { maxKeys: 2, noNullPrototype: true }) });
    fc.assert(
      fc.property(ckptArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (ckpt, at, bit) => {
        const bytes = serializeCheckpoint(ckpt);
        const flipped = bytes.slice();
        flipped[at % bytes.length]! ^= 1 << bit;
        try {
          // Only a flip that keeps JSON meaning (e.g. one padding space into another whitespace) may load.
          expect(deserializeCheckpoint(flipped)).toStrictEqual(ckpt);
        } catch (error) {
          if (!(error instanceof CorruptCheckpointError)) throw error;
        }
      }),
      { numRuns: RUNS.byteFlips },
    );
  });

  it('every proper prefix of a file is refused', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 4 }), tensorArb, { maxKeys: 3 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (tensors, where) => {
        const plain = serializeSafetensors(tensors);
        const strata = serializeCheckpoint({ tensors });
        for (const bytes of [plain, strata]) {
          const cut = Math.floor(where * bytes.length);
          expect(loadsOrCorrupt(bytes.subarray(0, cut))).toBe('corrupt');
        }
      }),
      { numRuns: RUNS.truncation },
    );
  });
});

describe('strict JSON parser', () => {
  const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

  it('agrees with JSON.parse on valid JSON', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        let ours: unknown;
        try {
          ours = parseJson(text);
        } catch (error) {
          // Only the deliberate refusals differ from JSON.parse.
          expect(error).toBeInstanceOf(JsonParseError);
          expect(['duplicate-key', 'forbidden-key']).toContain((error as JsonParseError).problem);
          return;
        }
        expect(strip(ours)).toEqual(strip(JSON.parse(text)));
      }),
      { numRuns: RUNS.jsonValid },
    );
  });

  it('refuses exactly what JSON.parse refuses on mutated JSON', () => {
    const mutated = fc
      .tuple(fc.json(), fc.nat(), fc.constantFrom('', '{', '}', '[', ']', ',', ':', '"', '\\', '-', '0', '1e', '.', ' ', 'x', '\u0000', 'tru', 'nul'))
      .map(([text, at, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + (at % 2));
      });
    fc.assert(
      fc.property(mutated, (text) => {
        let native: { ok: true; value: unknown } | { ok: false };
        try {
          native = { ok: true, value: JSON.parse(text) };
        } catch {
          native = { ok: false };
        }
        try {
          const ours = parseJson(text);
          expect(native.ok).toBe(true);
          if (native.ok) expect(strip(ours)).toEqual(strip(native.value));
        } catch (error) {
          expect(error).toBeInstanceOf(JsonParseError);
          if (native.ok) expect(['duplicate-key', 'forbidden-key']).toContain((error as JsonParseError).problem);
        }
      }),
      { numRuns: RUNS.jsonMutated },
    );
  });
});
