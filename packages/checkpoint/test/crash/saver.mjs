// Child process of the crash-safety test: saves checkpoints of generation N, N+1, ... to one URL
// until it is killed. Runs the built package (dist/), like a user's program would.
// argv: url, first generation, tensor bytes; env STRATA_CRASH_STORAGE_OPTIONS: storage options as JSON.
import { saveCheckpoint, tensor } from '@strata/checkpoint';

const [url, firstArg, bytesArg] = process.argv.slice(2);
const storageOptions = JSON.parse(process.env.STRATA_CRASH_STORAGE_OPTIONS || '{}');
const size = Number(bytesArg);
const say = (line) => process.stdout.write(`${line}\n`);

for (let generation = Number(firstArg); ; generation++) {
  // Every byte depends on the generation, so a mix of two generations cannot pass as either.
  const data = new Uint8Array(size);
  const stamp = new Uint8Array(4096);
  for (let i = 0; i < stamp.length; i++) stamp[i] = (generation * 131 + i * 7) & 0xff;
  for (let offset = 0; offset < size; offset += stamp.length) data.set(stamp.subarray(0, Math.min(stamp.length, size - offset)), offset);
  say(`start ${generation}`);
  await saveCheckpoint(
    { generation, weights: tensor('U8', [size], data), meta: { savedBy: process.pid, when: new Date() } },
    url,
    { storageOptions, onProgress: (done, total) => say(`progress ${generation} ${done} ${total}`) },
  );
  say(`saved ${generation}`);
}
