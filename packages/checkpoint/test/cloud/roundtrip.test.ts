import { AlreadyExistsError, type FileSystem } from '@strata/fs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FsCheckpointIO, loadCheckpoint, readCheckpointInfo, saveCheckpoint, tensor, type Tensor } from '../../src/index.js';
import { instrumentedFs, pseudoRandomBytes, richCheckpoint } from '../helpers.js';
import { CLOUD_BACKENDS, backendInstalled, freshBucket } from './backends.js';

for (const backend of CLOUD_BACKENDS) {
  const installed = await backendInstalled(backend);

  describe.skipIf(!installed)(`checkpoints on ${backend.name} (${backend.module} against its test server)`, () => {
    let fs: FileSystem;
    let url: (key: string) => string;
    const storageOptions = () => backend.storageOptions();

    beforeAll(async () => {
      ({ fs, url } = await freshBucket(backend));
    });
    afterAll(async () => {
      await fs?.close();
    });

    it('round-trips every value through a URL resolved by the registry', async () => {
      const original = richCheckpoint();
      await saveCheckpoint(original, url('runs/a/last.safetensors'), { storageOptions: storageOptions() });
      expect(await loadCheckpoint(url('runs/a/last.safetensors'), { storageOptions: storageOptions() })).toStrictEqual(original);
      const info = await readCheckpointInfo(url('runs/a/last.safetensors'), { storageOptions: storageOptions() });
      expect(info.format).toBe('strata-checkpoint');
      expect(info.tensors.length).toBeGreaterThan(10);
    });

    it('streams a multi-part checkpoint and loads a subset reading only its ranges', async () => {
      const mib = 1 << 20;
      const ckpt = { step: 3, layers: [0, 1, 2, 3].map((i) => tensor('U8', [6 * mib], pseudoRandomBytes(6 * mib, i + 10))) };
      const progress: number[] = [];
      await saveCheckpoint(ckpt, url('big.safetensors'), { fs, onProgress: (done) => progress.push(done) });
      // At least one write per tensor after the header, each reported, up to the whole file.
      expect(progress.length).toBeGreaterThanOrEqual(5);
      expect(progress.every((done, i) => i === 0 || done > progress[i - 1]!)).toBe(true);
      expect(progress.at(-1)).toBe((await fs.info(url('big.safetensors'))).size);
      const { fs: counted, stats } = instrumentedFs(fs);
      const part = (await loadCheckpoint(url('big.safetensors'), { fs: counted, keys: (n) => n === 'layers.2' })) as { step: number; layers: (Tensor | undefined)[] };
      expect(part.step).toBe(3);
      expect(part.layers[0]).toBeUndefined();
      expect(Buffer.compare(part.layers[2]!.data as Uint8Array, ckpt.layers[2]!.data as Uint8Array)).toBe(0);
      expect(stats.bytesRead).toBe((64 << 10) + 6 * mib);
      const all = (await loadCheckpoint(url('big.safetensors'), { fs })) as typeof ckpt;
      for (let i = 0; i < 4; i++) expect(Buffer.compare(all.layers[i]!.data as Uint8Array, ckpt.layers[i]!.data as Uint8Array)).toBe(0);
    });

    it('a save that fails midway leaves the previous checkpoint untouched', async () => {
      const key = url('atomic.safetensors');
      await saveCheckpoint({ generation: 1, w: tensor('U8', [4 << 20], pseudoRandomBytes(4 << 20, 1)) }, key, { fs });
      const failing = saveCheckpoint({ generation: 2, w: tensor('U8', [20 << 20], pseudoRandomBytes(20 << 20, 2)) }, key, {
        fs,
        onProgress: (done, total) => {
          if (done > total / 2) throw new Error('disk on fire');
        },
      });
      await expect(failing).rejects.toThrow('disk on fire');
      expect(((await loadCheckpoint(key, { fs })) as { generation: number }).generation).toBe(1);
    });

    it("mode 'create' refuses to replace an existing checkpoint", async () => {
      const key = url('once.safetensors');
      await saveCheckpoint({ v: 1 }, key, { fs, mode: 'create' });
      await expect(saveCheckpoint({ v: 2 }, key, { fs, mode: 'create' })).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(await loadCheckpoint(key, { fs })).toEqual({ v: 1 });
    });

    it('FsCheckpointIO saves, loads and removes through storage options', async () => {
      const io = new FsCheckpointIO({ storageOptions: storageOptions() });
      await io.saveCheckpoint({ epoch: 9, w: tensor('F16', [2], [1, 2]) }, url('io/e9.safetensors'));
      expect(await io.loadCheckpoint(url('io/e9.safetensors'))).toStrictEqual({ epoch: 9, w: tensor('F16', [2], [1, 2]) });
      await io.removeCheckpoint(url('io/e9.safetensors'));
      expect(await fs.exists(url('io/e9.safetensors'))).toBe(false);
      await io.removeCheckpoint(url('io/e9.safetensors'));
    });
  });
}
