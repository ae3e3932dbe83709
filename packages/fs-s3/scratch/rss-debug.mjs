// Writes TOTAL_MIB MiB through open('wb') in 1 MiB chunks made on the fly and reports peak RSS growth.
// Runs in its own process so the test runner's memory does not blur the measurement.
import { createFileSystem } from '@strata/fs-s3';

const { S3_ENDPOINT, S3_REGION, S3_KEY, S3_SECRET, TARGET, TOTAL_MIB } = process.env;
const MiB = 1024 * 1024;
const total = Number(TOTAL_MIB);

const fs = createFileSystem({
  endpoint: S3_ENDPOINT,
  region: S3_REGION,
  credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET },
});

// Warm up: load the SDK and open a connection before the baseline.
await fs.pipe(`${TARGET}.warmup`, 'warm');
await fs.rm(`${TARGET}.warmup`);
globalThis.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  { const m = process.memoryUsage(); if (m.rss > peak) { peak = m.rss; globalThis.atPeak = m; } }
}, 10);

const chunk = new Uint8Array(MiB);
const view = new DataView(chunk.buffer);
const started = Date.now();
const handle = await fs.open(TARGET, 'wb');
for (let i = 0; i < total; i++) {
  // Every 4-byte word holds its own word offset in the object, so misplaced bytes are detectable.
  for (let w = 0; w < MiB / 4; w++) view.setUint32(w * 4, i * (MiB / 4) + w);
  await handle.write(chunk);
}
await handle.commit();
clearInterval(sampler);
{ const m = process.memoryUsage(); if (m.rss > peak) { peak = m.rss; globalThis.atPeak = m; } }
await fs.close();
process.stdout.write(JSON.stringify({ atPeak: Object.fromEntries(Object.entries(globalThis.atPeak ?? {}).map(([k, v]) => [k, (v / 1048576).toFixed(1)])), baseline, peak, growth: peak - baseline, seconds: (Date.now() - started) / 1000 }) + '\n');
