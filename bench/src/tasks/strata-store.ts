// Strata on an object store (S3, GCS, Azure), reached through URLs and storage options like a user would.
import { MAX_RANGE_BYTES, loadCheckpoint, saveCheckpoint } from '@strata/checkpoint';
import { urlToFs, type StorageOptions } from '@strata/fs-core';

import { checkpointLayout, totalBytes, verifySafetensorsImage } from '../lib/data.js';
import { measurePhase } from '../lib/measure.js';
import { buildCheckpoint, numberParam, runSmallObjects, smallObjectName, stringParam, verifyLoaded, type Task } from './common.js';

function storageOptions(params: Record<string, unknown>): StorageOptions {
  return params.storageOptions as StorageOptions;
}

/**
 * Imports the backend and creates its filesystem (fs-core caches it for the URL's options), as the
 * SDK contenders import their SDK and build their client before the measured phase. No request.
 */
async function createFilesystem(params: Record<string, unknown>): Promise<void> {
  await urlToFs(stringParam(params, 'url'), storageOptions(params));
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
  await createFilesystem(params);
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
  await createFilesystem(params);
  const phase = await measurePhase('load', async () => {
    loaded = await loadCheckpoint(url, { storageOptions: storageOptions(params) });
    return { bytes, outputBytes: bytes };
  });
  verifyLoaded(specs, loaded, 'strata');
  return { phases: [phase] };
};

/**
 * Reference: the whole file in loadCheckpoint's 64 MiB ranges through fs.catRanges (the
 * filesystem's concurrency, 16), with no SHA-256 check: the cost of Strata's read path alone.
 */
const loadRanges: Task = async (params) => {
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const { fs, path } = await urlToFs(stringParam(params, 'url'), storageOptions(params));
  let parts: Uint8Array[] = [];
  const phase = await measurePhase('load', async () => {
    const size = (await fs.info(path)).size;
    const starts: number[] = [];
    for (let offset = 0; offset < size; offset += MAX_RANGE_BYTES) starts.push(offset);
    parts = await fs.catRanges(
      starts.map(() => path),
      starts,
      starts.map((start) => Math.min(size, start + MAX_RANGE_BYTES)),
    );
    return { bytes: totalBytes(specs), outputBytes: size };
  });
  verifySafetensorsImage(specs, Buffer.concat(parts), 'strata catRanges');
  return { phases: [phase] };
};

/** 2,000 small objects: pipe each (bounded concurrency), list the prefix, cat each. */
const smallObjects: Task = async (params) => {
  const { fs, path: prefix } = await urlToFs(`${stringParam(params, 'urlPrefix')}/strata-${process.pid}`, storageOptions(params));
  return runSmallObjects(params, 'strata', {
    nameOf: (i) => `${prefix}/${smallObjectName(i)}`,
    write: (name, payload) => fs.pipe(name, payload),
    list: () => fs.find(prefix),
    read: (name) => fs.cat(name),
    cleanup: async () => {
      await fs.rm(prefix, { recursive: true }).catch(() => undefined);
      await fs.close();
    },
  });
};

export const tasks: Record<string, Task> = {
  prepare,
  save,
  load,
  'load-ranges': loadRanges,
  'small-objects': smallObjects,
};
