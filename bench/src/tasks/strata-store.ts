// Strata on an object store (S3, GCS, Azure), reached through URLs and storage options like a user would.
import { loadCheckpoint, saveCheckpoint } from '@strata/checkpoint';
import { urlToFs, type StorageOptions } from '@strata/fs-core';

import { checkpointLayout, totalBytes } from '../lib/data.js';
import { measurePhase, type PhaseResult } from '../lib/measure.js';
import { buildCheckpoint, checkSmallPayload, mapLimit, numberParam, smallPayload, stringParam, verifyLoaded, type Task } from './common.js';

function storageOptions(params: Record<string, unknown>): StorageOptions {
  return params.storageOptions as StorageOptions;
}

/** Writes the checkpoint the load scenarios read (not measured). */
const prepare: Task = async (params) => {
  const { checkpoint } = buildCheckpoint(numberParam(params, 'scale'));
  await saveCheckpoint(checkpoint, stringParam(params, 'url'), { storageOptions: storageOptions(params) });
  return { phases: [] };
};

const save: Task = async (params) => {
  const url = stringParam(params, 'url');
  const { checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  const options = { storageOptions: storageOptions(params) };
  const phase = await measurePhase('save', async () => {
    await saveCheckpoint(checkpoint, url, options);
    return { bytes };
  });
  const { fs, path } = await urlToFs(url, storageOptions(params));
  const size = (await fs.info(path)).size;
  await fs.close();
  if (size < bytes) throw new Error(`strata: saved object has ${size} bytes, fewer than the ${bytes} tensor bytes`);
  return { phases: [phase] };
};

const load: Task = async (params) => {
  const url = stringParam(params, 'url');
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const bytes = totalBytes(specs);
  let loaded: Record<string, unknown> = {};
  const phase = await measurePhase('load', async () => {
    loaded = await loadCheckpoint(url, { storageOptions: storageOptions(params) });
    return { bytes, outputBytes: bytes };
  });
  verifyLoaded(specs, loaded, 'strata');
  return { phases: [phase] };
};

/** 2,000 small objects: pipe each (bounded concurrency), list the prefix, cat each. */
const smallObjects: Task = async (params) => {
  const count = numberParam(params, 'count');
  const size = numberParam(params, 'size');
  const concurrency = numberParam(params, 'concurrency');
  const { fs, path: prefix } = await urlToFs(`${stringParam(params, 'urlPrefix')}/strata-${process.pid}`, storageOptions(params));
  const names = Array.from({ length: count }, (_, i) => `${prefix}/obj-${String(i).padStart(5, '0')}.bin`);
  const payloads = names.map((_, i) => smallPayload(i, size));
  const phases: PhaseResult[] = [];
  try {
    phases.push(
      await measurePhase('write', async () => {
        await mapLimit(names, concurrency, (name, i) => fs.pipe(name, payloads[i]!));
        return { bytes: count * size, items: count };
      }),
    );
    let listed: string[] = [];
    phases.push(
      await measurePhase('list', async () => {
        listed = await fs.find(prefix);
        return { items: listed.length };
      }),
    );
    if (listed.length !== count) throw new Error(`strata: listed ${listed.length} objects, expected ${count}`);
    let got: Uint8Array[] = [];
    phases.push(
      await measurePhase('read', async () => {
        got = await mapLimit(names, concurrency, (name) => fs.cat(name));
        return { bytes: count * size, items: count };
      }),
    );
    got.forEach((bytes, i) => checkSmallPayload(i, bytes, size, 'strata'));
  } finally {
    await fs.rm(prefix, { recursive: true }).catch(() => undefined);
    await fs.close();
  }
  return { phases };
};

export const tasks: Record<string, Task> = {
  prepare,
  save,
  load,
  'small-objects': smallObjects,
};
