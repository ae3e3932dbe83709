import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { crashLoop } from './crash/driver.js';
import { tempDir } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
let tmp: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  // The child runs the built package, as a user's program would; build it from the current source.
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: packageDir });
  tmp = await tempDir();
}, 120_000);

afterAll(async () => {
  await tmp?.cleanup();
});

it('a SIGKILLed save leaves the previous or the new complete checkpoint on local disk (30 kills, 64 MiB)', async () => {
  const path = join(tmp.dir, 'crash', 'ckpt.safetensors');
  const run = await crashLoop({ url: path, iterations: 30, tensorBytes: 64 << 20, seed: Date.now(), log: (line) => console.log(line) });
  expect(run.kills).toHaveLength(30);
  expect(run.finalGeneration).toBeGreaterThanOrEqual(1);
  // The kills landed in different phases: before the first commit, mid-write and right after a commit.
  expect(run.kills.some((k) => k.phase.startsWith('writing'))).toBe(true);
  // Killed writers leave only their private temp files next to the checkpoint.
  const names = await readdir(join(tmp.dir, 'crash'));
  expect(names.filter((n) => n !== 'ckpt.safetensors').every((n) => /^\.ckpt\.safetensors\.strata-[0-9a-f]+\.tmp$/.test(n))).toBe(true);
}, 240_000);
