import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RANGE_READ_RSS_SCRIPT } from '@strata/fs-core/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { azureFs, azurite, createContainer, deleteContainer, uniqueContainer } from './helpers.js';

const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;
const CHUNK = 1 * MiB;

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** The child process imports the built package: rebuild it when a source file is newer than dist. */
function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(`${packageDir}dist/index.js`).mtimeMs;
  } catch {
    // not built yet
  }
  const newest = Math.max(...readdirSync(`${packageDir}src`).map((f) => statSync(`${packageDir}src/${f}`).mtimeMs));
  if (newest > built) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: packageDir, stdio: 'inherit' });
}

let container: string;

beforeAll(async () => {
  container = uniqueContainer('large');
  await createContainer(container);
});

afterAll(async () => {
  await deleteContainer(container);
});

let path: string;
let writtenDigest: string;

test('256 MiB through open("wb") streams out in blocks: peak RSS growth stays under 128 MiB and the bytes read back intact', async () => {
  const fs = azureFs(); // defaults: 8 MiB blocks, 4 staged at once
  path = `${container}/big/256mib.bin`;
  await fs.pipe(`${container}/warmup.txt`, 'warm up sockets and SDK code paths');
  await fs.cat(`${container}/warmup.txt`);

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const sampler = setInterval(sample, 5);

  const written = createHash('sha256');
  const chunk = randomBytes(CHUNK);
  const handle = await fs.open(path, 'wb');
  try {
    for (let offset = 0, index = 0; offset < TOTAL; offset += CHUNK, index++) {
      chunk.writeUInt32BE(index, 0); // every chunk differs; the writer must copy what it keeps
      written.update(chunk);
      await handle.write(chunk);
      sample();
    }
    await handle.commit();
    sample();
  } finally {
    clearInterval(sampler);
  }
  const growthMiB = (peak - baseline) / MiB;
  console.log(`256 MiB write: baseline RSS ${(baseline / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB, growth ${growthMiB.toFixed(1)} MiB`);
  expect(growthMiB).toBeLessThan(128);

  expect((await fs.info(path)).size).toBe(TOTAL);
  const read = createHash('sha256');
  const reader = await fs.open(path, 'rb');
  let readBytes = 0;
  for await (const part of reader.stream() as unknown as AsyncIterable<Uint8Array>) {
    read.update(part);
    readBytes += part.length;
  }
  await reader.close();
  expect(readBytes).toBe(TOTAL);
  writtenDigest = written.digest('hex');
  expect(read.digest('hex')).toBe(writtenDigest);
}, 600_000);

test('catRanges of 64 MiB, 4 at once (the checkpoint loader\'s reads) holds each range once', async () => {
  ensureBuilt();
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', RANGE_READ_RSS_SCRIPT], {
    cwd: packageDir,
    env: { ...process.env, STRATA_URL: `az://${path}`, STRATA_OPTIONS: JSON.stringify({ connectionString: azurite().connectionString }), RANGE_MIB: '64', IN_FLIGHT: '4' },
    maxBuffer: 1024 * 1024,
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as { loaded: number; extra: number; sha256: string };
  console.log(`256 MiB catRanges: RSS beyond the loaded bytes ${(report.extra / MiB).toFixed(1)} MiB`);
  expect(report.loaded).toBe(TOTAL);
  expect(report.sha256).toBe(writtenDigest);
  // Chunks collected and then concatenated would hold every range twice: 256 MiB beyond.
  expect(report.extra).toBeLessThan(128 * MiB);
}, 600_000);
