// The OpenDAL Node binding (opendal@0.47.11) on the same stores.
import { Operator } from 'opendal';

import { checkpointLayout, safetensorsHeader, totalBytes, verifySafetensorsImage } from '../lib/data.js';
import { measurePhase } from '../lib/measure.js';
import { buildCheckpoint, numberParam, runSmallObjects, smallObjectName, stringParam, type Task, type TaskParams } from './common.js';

interface StoreParams {
  kind: 's3' | 'gcs' | 'azure';
  [key: string]: unknown;
}

function operator(params: TaskParams): Operator {
  const store = params.store as StoreParams;
  const bucket = stringParam(params, 'bucket');
  const s = (k: string) => String(store[k]);
  switch (store.kind) {
    case 's3':
      return new Operator('s3', {
        bucket,
        root: '/',
        endpoint: s('endpoint'),
        region: s('region'),
        access_key_id: s('accessKeyId'),
        secret_access_key: s('secretAccessKey'),
        // Only what is given here: no ~/.aws files, no instance metadata.
        disable_config_load: 'true',
        disable_ec2_metadata: 'true',
      });
    case 'gcs':
      return new Operator('gcs', {
        bucket,
        root: '/',
        endpoint: s('endpoint'),
        allow_anonymous: 'true',
        disable_vm_metadata: 'true',
        disable_config_load: 'true',
      });
    case 'azure':
      return new Operator('azblob', {
        container: bucket,
        root: '/',
        endpoint: s('blobEndpoint'),
        account_name: s('accountName'),
        account_key: s('accountKey'),
      });
  }
}

function asBuffer(view: Uint8Array): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** A Writer with the same chunk (part) size; the 0.47 Node binding has no concurrency option. */
const save: Task = async (params) => {
  const op = operator(params);
  const key = stringParam(params, 'key');
  const { specs, checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  const buffers = [safetensorsHeader(specs), ...specs.map((s) => checkpoint.state_dict[s.key]!.data as Uint8Array)];
  const phase = await measurePhase('save', async () => {
    const writer = await op.writer(key, { chunk: BigInt(numberParam(params, 'partSize')) });
    for (const b of buffers) await writer.write(asBuffer(b));
    await writer.close();
    return { bytes };
  });
  const size = Number((await op.stat(key)).contentLength);
  if (size < bytes) throw new Error(`opendal: object has ${size} bytes`);
  return { phases: [phase] };
};

const load: Task = async (params) => {
  const op = operator(params);
  const specs = checkpointLayout(numberParam(params, 'scale'));
  let image: Uint8Array = new Uint8Array(0);
  const phase = await measurePhase('load', async () => {
    image = await op.read(stringParam(params, 'key'));
    return { bytes: totalBytes(specs), outputBytes: image.length };
  });
  verifySafetensorsImage(specs, image, 'opendal');
  return { phases: [phase] };
};

const smallObjects: Task = async (params) => {
  const op = operator(params);
  const prefix = `${stringParam(params, 'prefix')}/opendal-${process.pid}/`;
  return runSmallObjects(params, 'opendal', {
    nameOf: (i) => prefix + smallObjectName(i),
    write: (key, payload) => op.write(key, payload),
    list: async () => (await op.list(prefix, { recursive: true })).map((e) => e.path()).filter((p) => !p.endsWith('/')),
    read: (key) => op.read(key),
    cleanup: () => op.removeAll(prefix),
  });
};

export const tasks: Record<string, Task> = { save, load, 'small-objects': smallObjects };
