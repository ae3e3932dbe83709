// Reads STRATA_URL with catRanges (RANGE_MIB ranges, IN_FLIGHT at once, like the checkpoint
// loader) and prints the peak RSS beyond the bytes it holds, plus their SHA-256. Run it in a
// process of its own (`node --expose-gc`), so a test runner's memory does not blur the figure.
// STRATA_OPTIONS is the storage options as JSON.
import { createHash } from 'node:crypto';

import { urlToFs } from '../registry.js';

const MiB = 1024 * 1024;
const { STRATA_URL, STRATA_OPTIONS, RANGE_MIB, IN_FLIGHT } = process.env;
if (!STRATA_URL) throw new Error('range-read-rss: set STRATA_URL (and STRATA_OPTIONS, RANGE_MIB, IN_FLIGHT)');

const { fs, path } = await urlToFs(STRATA_URL, STRATA_OPTIONS ? (JSON.parse(STRATA_OPTIONS) as Record<string, unknown>) : {});
const { size } = await fs.info(path);
await fs.cat(path, { start: 0, end: 1024 }); // warm up the SDK and a connection
(globalThis as { gc?: () => void }).gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);

const range = Number(RANGE_MIB ?? 64) * MiB;
const starts: number[] = [];
for (let start = 0; start < size; start += range) starts.push(start);
const parts = await fs.catRanges(
  starts.map(() => path),
  starts,
  starts.map((start) => Math.min(size, start + range)),
  { concurrency: Number(IN_FLIGHT ?? 4) },
);
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
const loaded = parts.reduce((sum, part) => sum + part.length, 0);
const digest = createHash('sha256');
for (const part of parts) digest.update(part);
await fs.close();
process.stdout.write(`${JSON.stringify({ baseline, peak, loaded, extra: peak - baseline - loaded, sha256: digest.digest('hex') })}\n`);
