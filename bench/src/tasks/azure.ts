// @azure/storage-blob as a careful user would use it against Azurite.
import { Readable } from 'node:stream';

import { BlobServiceClient } from '@azure/storage-blob';

import { checkTensorDigests, checkpointLayout, parseSafetensorsHeader, safetensorsHeader, totalBytes, verifySafetensorsImage } from '../lib/data.js';
import { measurePhase } from '../lib/measure.js';
import { buildCheckpoint, mapLimit, numberParam, runSmallObjects, smallObjectName, stringParam, type Task, type TaskParams } from './common.js';

function container(params: TaskParams) {
  const store = params.store as { connectionString: string };
  return BlobServiceClient.fromConnectionString(store.connectionString).getContainerClient(stringParam(params, 'bucket'));
}

/** uploadStream: staged blocks of the same size, the same number in flight, then the block list. */
const save: Task = async (params) => {
  const blob = container(params).getBlockBlobClient(stringParam(params, 'key'));
  const { specs, checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  const buffers = [safetensorsHeader(specs), ...specs.map((s) => checkpoint.state_dict[s.key]!.data as Uint8Array)];
  const phase = await measurePhase('save', async () => {
    await blob.uploadStream(Readable.from(buffers, { objectMode: false }), numberParam(params, 'partSize'), numberParam(params, 'uploadConcurrency'));
    return { bytes };
  });
  const properties = await blob.getProperties();
  if ((properties.contentLength ?? 0) < bytes) throw new Error('azure-sdk: blob is too small');
  return { phases: [phase] };
};

/** downloadToBuffer: the SDK's own parallel ranged download into one buffer. */
const loadRanged: Task = async (params) => {
  const blob = container(params).getBlobClient(stringParam(params, 'key'));
  const specs = checkpointLayout(numberParam(params, 'scale'));
  let image = new Uint8Array(0);
  const phase = await measurePhase('load', async () => {
    const size = (await blob.getProperties()).contentLength ?? 0;
    const buffer = Buffer.allocUnsafe(size);
    await blob.downloadToBuffer(buffer, 0, size, { blockSize: numberParam(params, 'partSize'), concurrency: numberParam(params, 'downloadConcurrency') });
    image = buffer;
    const header = parseSafetensorsHeader(image);
    if (params.checkDigests === true) checkTensorDigests(header, image, 'azure-sdk');
    return { bytes: totalBytes(specs), outputBytes: size };
  });
  verifySafetensorsImage(specs, image, 'azure-sdk downloadToBuffer');
  return { phases: [phase] };
};

const smallObjects: Task = async (params) => {
  const c = container(params);
  const prefix = `${stringParam(params, 'prefix')}/sdk-${process.pid}/`;
  return runSmallObjects(params, 'azure-sdk', {
    nameOf: (i) => prefix + smallObjectName(i),
    write: (name, payload) => c.getBlockBlobClient(name).upload(payload, payload.length),
    list: async () => {
      const listed: string[] = [];
      for await (const item of c.listBlobsFlat({ prefix })) listed.push(item.name);
      return listed;
    },
    read: (name) => c.getBlobClient(name).downloadToBuffer(),
    cleanup: (names) => mapLimit(names, numberParam(params, 'concurrency'), (name) => c.deleteBlob(name).catch(() => undefined)),
  });
};

export const tasks: Record<string, Task> = { save, 'load-ranged': loadRanged, 'small-objects': smallObjects };
