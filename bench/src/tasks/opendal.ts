// The OpenDAL Node binding (opendal@0.47.11) on the same stores.
import { Operator } from 'opendal';

import { checkpointLayout, safetensorsHeader, totalBytes, verifySafetensorsImage } from '../lib/data.js';
import { measurePhase, type PhaseResult } from '../lib/measure.js';
import { buildCheckpoint, checkSmallPayload, mapLimit, numberParam, smallPayload, stringParam, type Task, type TaskParams } from './common.js';

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
  const count = numberParam(params, 'count');
  const size = numberParam(params, 'size');
  const concurrency = numberParam(params, 'concurrency');
  const prefix = `${stringParam(params, 'prefix')}/opendal-${process.pid}/`;
  const keys = Array.from({ length: count }, (_, i) => `${prefix}obj-${String(i).padStart(5, '0')}.bin`);
  const payloads = keys.map((_, i) => Buffer.from(smallPayload(i, size)));
  const phases: PhaseResult[] = [];
  try {
    phases.push(
      await measurePhase('write', async () => {
        await mapLimit(keys, concurrency, (key, i) => op.write(key, payloads[i]!));
        return { bytes: count * size, items: count };
      }),
    );
    let listed: string[] = [];
    phases.push(
      await measurePhase('list', async () => {
        listed = (await op.list(prefix, { recursive: true })).map((e) => e.path()).filter((p) => !p.endsWith('/'));
        return { items: listed.length };
      }),
    );
    if (listed.length !== count) throw new Error(`opendal: listed ${listed.length} objects, expected ${count}`);
    let got: Uint8Array[] = [];
    phases.push(
      await measurePhase('read', async () => {
        got = await mapLimit(keys, concurrency, (key) => op.read(key));
        return { bytes: count * size, items: count };
      }),
    );
    got.forEach((bytes, i) => checkSmallPayload(i, bytes, size, 'opendal'));
  } finally {
    await op.removeAll(prefix).catch(() => undefined);
  }
  return { phases };
};

export const tasks: Record<string, Task> = { save, load, 'small-objects': smallObjects };
