import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { MiB, createBucket, destroyBucket, ensureBuilt, packageDir, rawStorage, server } from './helpers.js';

const TOTAL_MIB = 256;
const LIMIT = 128 * MiB;

let storage: Storage;
let bucket: string;
beforeAll(async () => {
  storage = rawStorage();
  bucket = await createBucket(storage, 'memory');
});
afterAll(async () => {
  if (bucket) await destroyBucket(storage, bucket);
});

it(`writes ${TOTAL_MIB} MiB through open('wb') with peak RSS growth under 128 MiB (default 8 MiB resumable chunks)`, async () => {
  ensureBuilt();
  const key = 'memory/256mib.bin';
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', fileURLToPath(new URL('./fixtures/rss-writer.mjs', import.meta.url))],
    {
      cwd: packageDir,
      env: { ...process.env, ENDPOINT: server().endpoint, TARGET: `${bucket}/${key}`, TOTAL_MIB: String(TOTAL_MIB) },
      maxBuffer: MiB,
    },
  );
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as { baseline: number; peak: number; growth: number; seconds: number; md5: string };
  console.log(
    `${TOTAL_MIB} MiB write: RSS baseline ${(report.baseline / MiB).toFixed(1)} MiB, peak ${(report.peak / MiB).toFixed(1)} MiB, ` +
      `growth ${(report.growth / MiB).toFixed(1)} MiB, ${report.seconds.toFixed(1)} s`,
  );
  expect(report.growth).toBeLessThan(LIMIT);

  const file = storage.bucket(bucket).file(key);
  const [metadata] = await file.getMetadata();
  expect(Number(metadata.size)).toBe(TOTAL_MIB * MiB);
  expect(metadata.md5Hash).toBe(report.md5);
  // Spot-check words at chunk boundaries and the very end.
  for (const offset of [0, 8 * MiB - 8, 8 * MiB, 100 * MiB + 12, TOTAL_MIB * MiB - 8]) {
    const [bytes] = await file.download({ start: offset, end: offset + 7, validation: false });
    expect([bytes.readUInt32BE(0), bytes.readUInt32BE(4)]).toEqual([offset / 4, offset / 4 + 1]);
  }
}, 600_000);
