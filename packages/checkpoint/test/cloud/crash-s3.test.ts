import type { FileSystem } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ensureBuilt } from '../crash/build.js';
import { crashLoop } from '../crash/driver.js';
import { CLOUD_BACKENDS, backendInstalled, freshBucket } from './backends.js';

const s3 = CLOUD_BACKENDS.find((b) => b.name === 's3')!;
const installed = await backendInstalled(s3);

describe.skipIf(!installed)('crash safety on S3', () => {
  let fs: FileSystem;
  let url: (key: string) => string;

  beforeAll(async () => {
    await ensureBuilt();
    ({ fs, url } = await freshBucket(s3));
  }, 180_000);
  afterAll(async () => {
    await fs?.close();
  });

  it('a SIGKILLed save leaves the previous or the new complete checkpoint (30 kills, 64 MiB)', async () => {
    const log: string[] = [];
    const run = await crashLoop({
      url: url('crash/ckpt.safetensors'),
      storageOptions: s3.storageOptions(),
      iterations: 30,
      tensorBytes: 64 << 20,
      seed: Date.now(),
      log: (line) => log.push(line),
    });
    console.log(log.join('\n'));
    expect(run.kills).toHaveLength(30);
    expect(run.finalGeneration).toBeGreaterThanOrEqual(1);
    expect(run.kills.some((k) => k.phase.startsWith('writing'))).toBe(true);
    // Only the checkpoint is visible: killed multipart uploads never show up as objects.
    expect(await fs.find(url('crash'))).toEqual([`${url('crash/ckpt.safetensors').slice('s3://'.length)}`]);
  }, 600_000);
});
