// Scenarios 1, 2 and 6: local disk and memory, Strata against node:fs and memfs.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { loadCheckpoint, saveCheckpoint } from '@strata/checkpoint';
import { filesystem } from '@strata/fs-core';
import { Volume } from 'memfs';

import { checkpointLayout, safetensorsHeader, totalBytes, verifySafetensorsImage } from '../lib/data.js';
import { measurePhase } from '../lib/measure.js';
import { buildCheckpoint, checkSmallPayload, numberParam, smallPayload, stringParam, verifyLoaded, type Task, type TaskParams } from './common.js';

/** Writes a Strata checkpoint for the load scenarios (not measured). */
const prepareStrataCheckpoint: Task = async (params) => {
  const target = stringParam(params, 'path');
  const { checkpoint } = buildCheckpoint(numberParam(params, 'scale'));
  await mkdir(path.dirname(target), { recursive: true });
  await saveCheckpoint(checkpoint, target);
  return { phases: [], info: { size: (await stat(target)).size } };
};

const saveStrata: Task = async (params) => {
  const target = stringParam(params, 'path');
  const { checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  await mkdir(path.dirname(target), { recursive: true });
  const phase = await measurePhase('save', async () => {
    await saveCheckpoint(checkpoint, target);
    return { bytes };
  });
  const size = (await stat(target)).size;
  if (size < bytes) throw new Error(`strata: checkpoint file has ${size} bytes, fewer than the ${bytes} tensor bytes`);
  return { phases: [phase] };
};

/** The baseline: the same tensor bytes as one safetensors file, plain writes and one fsync. */
const saveRawFs: Task = async (params) => {
  const target = stringParam(params, 'path');
  const { specs, checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  const buffers = [safetensorsHeader(specs), ...specs.map((s) => checkpoint.state_dict[s.key]!.data as Uint8Array)];
  await mkdir(path.dirname(target), { recursive: true });
  const phase = await measurePhase('save', async () => {
    const handle = await open(target, 'w');
    try {
      for (const buffer of buffers) await handle.write(buffer);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { bytes };
  });
  return { phases: [phase] };
};

const loadStrata: Task = async (params) => {
  const source = stringParam(params, 'path');
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const bytes = totalBytes(specs);
  let loaded: Record<string, unknown> = {};
  const phase = await measurePhase('load', async () => {
    loaded = await loadCheckpoint(source);
    return { bytes, outputBytes: bytes };
  });
  verifyLoaded(specs, loaded, 'strata');
  return { phases: [phase] };
};

const loadReadFile: Task = async (params) => {
  const source = stringParam(params, 'path');
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const size = (await stat(source)).size;
  let image: Uint8Array = new Uint8Array(0);
  const phase = await measurePhase('load', async () => {
    image = await readFile(source);
    return { bytes: totalBytes(specs), outputBytes: size };
  });
  verifySafetensorsImage(specs, image, 'fs.readFile');
  return { phases: [phase] };
};

/* ------------------------------ scenario 6 ------------------------------ */

interface SmallOps {
  write(file: string, data: Uint8Array): Promise<void>;
  read(file: string): Promise<Uint8Array>;
}

function smallFiles(params: TaskParams, root: string): { files: string[]; dirs: string[]; size: number } {
  const count = numberParam(params, 'count');
  const size = numberParam(params, 'size');
  const dirs = Array.from({ length: Math.min(100, count) }, (_, d) => `${root}/d${String(d).padStart(2, '0')}`);
  const files = Array.from({ length: count }, (_, i) => `${dirs[i % dirs.length]}/f${i}.bin`);
  return { files, dirs, size };
}

/** `count` sequential pipes, then `count` sequential cats: the per-call cost of each API. */
async function pipeCatPhases(files: string[], size: number, ops: SmallOps, who: string) {
  const payloads = files.map((_, i) => smallPayload(i, size));
  const pipe = await measurePhase('pipe', async () => {
    for (let i = 0; i < files.length; i++) await ops.write(files[i]!, payloads[i]!);
    return { bytes: files.length * size, items: files.length };
  });
  const results = new Array<Uint8Array>(files.length);
  const cat = await measurePhase('cat', async () => {
    for (let i = 0; i < files.length; i++) results[i] = await ops.read(files[i]!);
    return { bytes: files.length * size, items: files.length };
  });
  results.forEach((bytes, i) => checkSmallPayload(i, bytes, size, who));
  return [pipe, cat];
}

async function withLocalDir<T>(params: TaskParams, fn: (root: string) => Promise<T>): Promise<T> {
  const root = path.join(stringParam(params, 'dir'), `run-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    return await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const overheadStrataFile: Task = (params) =>
  withLocalDir(params, async (root) => {
    const fs = await filesystem('file');
    const { files, dirs, size } = smallFiles(params, root);
    for (const d of dirs) await fs.mkdir(d, { parents: true });
    const phases = await pipeCatPhases(files, size, { write: (f, d) => fs.pipe(f, d), read: (f) => fs.cat(f) }, 'strata file');
    await fs.close();
    return { phases };
  });

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** node:fs/promises with the guarantee Strata's pipe gives: temp file, fsync, rename, fsync directory. */
const overheadRawAtomic: Task = (params) =>
  withLocalDir(params, async (root) => {
    const { files, dirs, size } = smallFiles(params, root);
    for (const d of dirs) await mkdir(d, { recursive: true });
    const write = async (file: string, data: Uint8Array) => {
      const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
      const handle = await open(temp, 'wx');
      try {
        await handle.write(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      await fsyncDir(path.dirname(file));
    };
    return { phases: await pipeCatPhases(files, size, { write, read: (f) => readFile(f) }, 'node:fs atomic') };
  });

/** node:fs/promises writeFile/readFile: no temp file, no fsync (not crash-safe; for reference). */
const overheadRawPlain: Task = (params) =>
  withLocalDir(params, async (root) => {
    const { files, dirs, size } = smallFiles(params, root);
    for (const d of dirs) await mkdir(d, { recursive: true });
    return { phases: await pipeCatPhases(files, size, { write: (f, d) => writeFile(f, d), read: (f) => readFile(f) }, 'node:fs writeFile') };
  });

const overheadStrataMemory: Task = async (params) => {
  const fs = await filesystem('memory');
  const { files, dirs, size } = smallFiles(params, '/bench');
  for (const d of dirs) await fs.mkdir(d, { parents: true });
  const phases = await pipeCatPhases(files, size, { write: (f, d) => fs.pipe(f, d), read: (f) => fs.cat(f) }, 'strata memory');
  await fs.close();
  return { phases };
};

const overheadMemfs: Task = async (params) => {
  const volume = new Volume();
  const { files, dirs, size } = smallFiles(params, '/bench');
  for (const d of dirs) await volume.promises.mkdir(d, { recursive: true });
  const read = (f: string) => volume.promises.readFile(f);
  return { phases: await pipeCatPhases(files, size, { write: (f, d) => volume.promises.writeFile(f, d), read }, 'memfs') };
};

export const tasks: Record<string, Task> = {
  'prepare-checkpoint': prepareStrataCheckpoint,
  'save-strata': saveStrata,
  'save-rawfs': saveRawFs,
  'load-strata': loadStrata,
  'load-readfile': loadReadFile,
  'overhead-strata-file': overheadStrataFile,
  'overhead-raw-atomic': overheadRawAtomic,
  'overhead-raw-plain': overheadRawPlain,
  'overhead-strata-memory': overheadStrataMemory,
  'overhead-memfs': overheadMemfs,
};
