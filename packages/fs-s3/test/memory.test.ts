import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { RANGE_READ_RSS_SCRIPT } from '@strata/fs-core/testing';
import { expect, it } from 'vitest';
import { bucketForThisFile, MiB, server, serverOptions } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const TOTAL_MIB = 256;
const LIMIT = 128 * MiB;

/** The child imports the built package: rebuild it when a source file is newer than dist. */
function ensureBuilt(): void {
  const built = (() => {
    try {
      return statSync(`${packageDir}dist/index.js`).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const newest = Math.max(...readdirSync(`${packageDir}src`).map((f) => statSync(`${packageDir}src/${f}`).mtimeMs));
  if (newest > built) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: packageDir, stdio: 'inherit' });
}

const shared = bucketForThisFile();

it(`writes ${TOTAL_MIB} MiB through open('wb') with peak RSS growth under 128 MiB`, async () => {
  ensureBuilt();
  const s = server();
  const key = 'memory/256mib.bin';
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', fileURLToPath(new URL('./fixtures/rss-writer.mjs', import.meta.url))], {
    cwd: packageDir,
    env: {
      ...process.env,
      S3_ENDPOINT: s.endpoint,
      S3_REGION: s.region,
      S3_KEY: s.accessKeyId,
      S3_SECRET: s.secretAccessKey,
      TARGET: `${shared.bucket}/${key}`,
      TOTAL_MIB: String(TOTAL_MIB),
    },
    maxBuffer: 1024 * 1024,
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as { baseline: number; peak: number; growth: number; seconds: number };
  console.log(
    `256 MiB write: RSS baseline ${(report.baseline / MiB).toFixed(1)} MiB, peak ${(report.peak / MiB).toFixed(1)} MiB, ` +
      `growth ${(report.growth / MiB).toFixed(1)} MiB, ${report.seconds.toFixed(1)} s`,
  );
  expect(report.growth).toBeLessThan(LIMIT);

  const head = await shared.client.send(new HeadObjectCommand({ Bucket: shared.bucket, Key: key }));
  expect(head.ContentLength).toBe(TOTAL_MIB * MiB);
  expect(head.ETag).toMatch(/-32"$/); // 8 MiB default parts
  // Spot-check words at part boundaries and the very end.
  for (const offset of [0, 8 * MiB - 8, 8 * MiB, 100 * MiB + 12, TOTAL_MIB * MiB - 8]) {
    const got = await shared.client.send(new GetObjectCommand({ Bucket: shared.bucket, Key: key, Range: `bytes=${offset}-${offset + 7}` }));
    const bytes = await got.Body!.transformToByteArray();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect([view.getUint32(0), view.getUint32(4)]).toEqual([offset / 4, offset / 4 + 1]);
  }
});

it(`reads the ${TOTAL_MIB} MiB back in 64 MiB ranges, 4 at once, holding each range once`, async () => {
  ensureBuilt();
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', RANGE_READ_RSS_SCRIPT], {
    cwd: packageDir,
    env: { ...process.env, STRATA_URL: `s3://${shared.bucket}/memory/256mib.bin`, STRATA_OPTIONS: JSON.stringify(serverOptions()), RANGE_MIB: '64', IN_FLIGHT: '4' },
    maxBuffer: 1024 * 1024,
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as { baseline: number; peak: number; loaded: number; extra: number; sha256: string };
  console.log(
    `256 MiB read: RSS baseline ${(report.baseline / MiB).toFixed(1)} MiB, peak ${(report.peak / MiB).toFixed(1)} MiB, ` +
      `beyond the loaded bytes ${(report.extra / MiB).toFixed(1)} MiB`,
  );
  expect(report.loaded).toBe(TOTAL_MIB * MiB);
  expect(report.sha256).toBe(writtenPatternSha256());
  // Chunks collected and then concatenated would hold every range twice: 256 MiB beyond.
  expect(report.extra).toBeLessThan(LIMIT);
});

/** SHA-256 of what rss-writer.mjs writes: every 4-byte big-endian word holds its own word offset. */
function writtenPatternSha256(): string {
  const hash = createHash('sha256');
  const chunk = new DataView(new ArrayBuffer(MiB));
  for (let i = 0; i < TOTAL_MIB; i++) {
    for (let w = 0; w < MiB / 4; w++) chunk.setUint32(w * 4, i * (MiB / 4) + w);
    hash.update(new Uint8Array(chunk.buffer));
  }
  return hash.digest('hex');
}
