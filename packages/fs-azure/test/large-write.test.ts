import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { azureFs, createContainer, deleteContainer, uniqueContainer } from './helpers.js';

const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;
const CHUNK = 1 * MiB;

let container: string;

beforeAll(async () => {
  container = uniqueContainer('large');
  await createContainer(container);
});

afterAll(async () => {
  await deleteContainer(container);
});

test('256 MiB through open("wb") streams out in blocks: peak RSS growth stays under 128 MiB and the bytes read back intact', async () => {
  const fs = azureFs(); // defaults: 8 MiB blocks, 4 staged at once
  const path = `${container}/big/256mib.bin`;
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
  expect(read.digest('hex')).toBe(written.digest('hex'));
}, 600_000);
