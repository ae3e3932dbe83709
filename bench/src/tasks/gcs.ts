// @google-cloud/storage as a careful user would use it against fake-gcs-server.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { Storage } from '@google-cloud/storage';

import { checkTensorDigests, checkpointLayout, parseSafetensorsHeader, safetensorsHeader, totalBytes, verifySafetensorsImage } from '../lib/data.js';
import { measurePhase } from '../lib/measure.js';
import { buildCheckpoint, mapLimit, numberParam, runSmallObjects, smallObjectName, stringParam, type Task, type TaskParams } from './common.js';

function bucket(params: TaskParams) {
  const store = params.store as { endpoint: string; projectId: string };
  // A custom apiEndpoint sends no credentials (useAuthWithCustomEndpoint is false): nothing to look up.
  const storage = new Storage({ apiEndpoint: store.endpoint, projectId: store.projectId });
  return storage.bucket(stringParam(params, 'bucket'));
}

/** A resumable upload with the same chunk size as Strata's. */
const save: Task = async (params) => {
  const file = bucket(params).file(stringParam(params, 'key'));
  const { specs, checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  const buffers = [safetensorsHeader(specs), ...specs.map((s) => checkpoint.state_dict[s.key]!.data as Uint8Array)];
  const phase = await measurePhase('save', async () => {
    await pipeline(Readable.from(buffers, { objectMode: false }), file.createWriteStream({ resumable: true, chunkSize: numberParam(params, 'partSize') }));
    return { bytes };
  });
  const [metadata] = await file.getMetadata();
  if (Number(metadata.size) < bytes) throw new Error('gcs-sdk: object is too small');
  return { phases: [phase] };
};

/** Ranged reads in parallel, each streamed straight into one buffer. */
const loadRanged: Task = async (params) => {
  const file = bucket(params).file(stringParam(params, 'key'));
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const rangeSize = numberParam(params, 'partSize');
  let image = new Uint8Array(0);
  const phase = await measurePhase('load', async () => {
    const [metadata] = await file.getMetadata();
    const size = Number(metadata.size);
    image = new Uint8Array(size);
    const starts = Array.from({ length: Math.ceil(size / rangeSize) }, (_, i) => i * rangeSize);
    await mapLimit(starts, numberParam(params, 'downloadConcurrency'), async (start) => {
      let position = start;
      const end = Math.min(size, start + rangeSize);
      await pipeline(
        file.createReadStream({ start, end: end - 1, validation: false }),
        new Writable({
          write(chunk: Buffer, _enc, done) {
            image.set(chunk, position);
            position += chunk.length;
            done();
          },
        }),
      );
      if (position !== end) throw new Error(`range ${start}-${end} returned ${position - start} bytes`);
    });
    const header = parseSafetensorsHeader(image);
    if (params.checkDigests === true) checkTensorDigests(header, image, 'gcs-sdk');
    return { bytes: totalBytes(specs), outputBytes: size };
  });
  verifySafetensorsImage(specs, image, 'gcs-sdk ranged');
  return { phases: [phase] };
};

const smallObjects: Task = async (params) => {
  const b = bucket(params);
  const prefix = `${stringParam(params, 'prefix')}/sdk-${process.pid}/`;
  return runSmallObjects(params, 'gcs-sdk', {
    nameOf: (i) => prefix + smallObjectName(i),
    write: (name, payload) => b.file(name).save(payload, { resumable: false }),
    list: async () => (await b.getFiles({ prefix, autoPaginate: true }))[0].map((f) => f.name),
    read: async (name) => (await b.file(name).download())[0],
    cleanup: () => b.deleteFiles({ prefix, force: true }),
  });
};

export const tasks: Record<string, Task> = { save, 'load-ranged': loadRanged, 'small-objects': smallObjects };
