import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { ensureBuilt } from './crash/build.js';
import { crashLoop } from './crash/driver.js';
import { tempDir } from './helpers.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  await ensureBuilt();
  tmp = await tempDir();
}, 180_000);

afterAll(async () => {
  await tmp?.cleanup();
});

it('a SIGKILLed save leaves the previous or the new complete checkpoint on local disk (30 kills, 64 MiB)', async () => {
  const path = join(tmp.dir, 'crash', 'ckpt.safetensors');
  const log: string[] = [];
  const run = await crashLoop({ url: path, iterations: 30, tensorBytes: 64 << 20, seed: Date.now(), log: (line) => log.push(line) });
  console.log(log.join('\n'));
  expect(run.kills).toHaveLength(30);
  expect(run.finalGeneration).toBeGreaterThanOrEqual(1);
  // Kills landed mid-write, not only between saves.
  expect(run.kills.some((k) => k.phase.startsWith('writing'))).toBe(true);
  // Killed writers leave only their private temp files next to the checkpoint.
  const names = await readdir(join(tmp.dir, 'crash'));
  expect(names.filter((n) => n !== 'ckpt.safetensors').every((n) => /^\.ckpt\.safetensors\.strata-[0-9a-f]+\.tmp$/.test(n))).toBe(true);
}, 300_000);
