// The raw AWS SDK as a careful user would use it (lib-storage Upload, ranged-parallel GetObject,
// bounded-concurrency Put/Get), and the partial-load scenario with server-side byte counting.
import { Readable } from 'node:stream';

import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { loadCheckpoint } from '@strata/checkpoint';

import { PARTIAL_KEY, checkTensorDigests, checkpointLayout, parseSafetensorsHeader, safetensorsHeader, totalBytes, verifySafetensorsImage, verifyTensorBytes } from '../lib/data.js';
import { measurePhase } from '../lib/measure.js';
import { buildCheckpoint, mapLimit, numberParam, runSmallObjects, smallObjectName, stringParam, verifyLoaded, type Task, type TaskParams } from './common.js';

interface S3Store {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

function store(params: TaskParams): S3Store {
  return params.store as S3Store;
}

function clientConfig(params: TaskParams): S3ClientConfig {
  const s = store(params);
  return {
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
  };
}

function bucketKey(params: TaskParams): { Bucket: string; Key: string } {
  return { Bucket: stringParam(params, 'bucket'), Key: stringParam(params, 'key') };
}

/** lib-storage Upload with the same part size and parts in flight as Strata. */
const saveLibStorage: Task = async (params) => {
  const client = new S3Client(clientConfig(params));
  const { specs, checkpoint, bytes } = buildCheckpoint(numberParam(params, 'scale'));
  const buffers = [safetensorsHeader(specs), ...specs.map((s) => checkpoint.state_dict[s.key]!.data as Uint8Array)];
  const phase = await measurePhase('save', async () => {
    const upload = new Upload({
      client,
      params: { ...bucketKey(params), Body: Readable.from(buffers, { objectMode: false }) },
      partSize: numberParam(params, 'partSize'),
      queueSize: numberParam(params, 'uploadConcurrency'),
      leavePartsOnError: false,
    });
    await upload.done();
    return { bytes };
  });
  const head = await client.send(new HeadObjectCommand(bucketKey(params)));
  if ((head.ContentLength ?? 0) < bytes) throw new Error('lib-storage: object is too small');
  client.destroy();
  return { phases: [phase] };
};

/** Copies a GetObject body into `out` at `offset` without intermediate buffers. */
async function readInto(client: S3Client, params: TaskParams, out: Uint8Array, start: number, end: number): Promise<void> {
  const got = await client.send(new GetObjectCommand({ ...bucketKey(params), Range: `bytes=${start}-${end - 1}` }));
  let position = start;
  for await (const chunk of got.Body as AsyncIterable<Uint8Array>) {
    out.set(chunk, position);
    position += chunk.length;
  }
  if (position !== end) throw new Error(`range ${start}-${end} returned ${position - start} bytes`);
}

/** HeadObject, then fixed-size ranges fetched in parallel straight into one buffer. */
const loadRanged: Task = async (params) => {
  const client = new S3Client(clientConfig(params));
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const rangeSize = numberParam(params, 'partSize');
  const concurrency = numberParam(params, 'downloadConcurrency');
  let image = new Uint8Array(0);
  const phase = await measurePhase('load', async () => {
    const head = await client.send(new HeadObjectCommand(bucketKey(params)));
    const size = head.ContentLength ?? 0;
    image = new Uint8Array(size);
    const starts = Array.from({ length: Math.ceil(size / rangeSize) }, (_, i) => i * rangeSize);
    await mapLimit(starts, concurrency, (start) => readInto(client, params, image, start, Math.min(size, start + rangeSize)));
    // Parse the header, as a user needs it to find the tensors.
    const header = parseSafetensorsHeader(image);
    if (params.checkDigests === true) checkTensorDigests(header, image, 'aws-sdk');
    return { bytes: totalBytes(specs), outputBytes: size };
  });
  verifySafetensorsImage(specs, image, 'aws-sdk ranged');
  client.destroy();
  return { phases: [phase] };
};

/** PutObject / ListObjectsV2 / GetObject with the same concurrency as Strata. */
const smallObjects: Task = async (params) => {
  const client = new S3Client(clientConfig(params));
  const Bucket = stringParam(params, 'bucket');
  const prefix = `${stringParam(params, 'prefix')}/sdk-${process.pid}/`;
  return runSmallObjects(params, 'aws-sdk', {
    nameOf: (i) => prefix + smallObjectName(i),
    write: (Key, Body) => client.send(new PutObjectCommand({ Bucket, Key, Body })),
    list: async () => {
      const listed: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (o.Key) listed.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return listed;
    },
    read: async (Key) => (await client.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray(),
    cleanup: async (keys) => {
      for (let i = 0; i < keys.length; i += 1000) {
        await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } })).catch(() => undefined);
      }
      client.destroy();
    },
  });
};

/* ------------------------------ scenario 4: partial load ------------------------------ */

interface ByteCounter {
  requests: number;
  bytes: number;
}

/** A client that counts the response bytes the server sends for GET requests. */
function countingClient(params: TaskParams): { client: S3Client; counter: ByteCounter } {
  const client = new S3Client({ ...clientConfig(params), maxAttempts: 1 });
  const counter: ByteCounter = { requests: 0, bytes: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const request = args.request as { method?: string };
      const response = result.response as { headers?: Record<string, string> };
      counter.requests++;
      if (request.method === 'GET') counter.bytes += Number(response.headers?.['content-length'] ?? 0);
      return result;
    },
    { step: 'deserialize', name: 'benchByteCounter' },
  );
  return { client, counter };
}

/** Length of the safetensors header region (8-byte prefix + JSON) of the object. */
async function headerRegionBytes(client: S3Client, params: TaskParams): Promise<number> {
  const got = await client.send(new GetObjectCommand({ ...bucketKey(params), Range: 'bytes=0-7' }));
  const prefix = await got.Body!.transformToByteArray();
  return 8 + Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
}

function strataOptionsWithClient(params: TaskParams, client: S3Client): Record<string, unknown> {
  const options = params.storageOptions as { s3: Record<string, unknown> };
  return { s3: { ...options.s3, client } };
}

function loadCounted(partial: boolean): Task {
  return async (params) => {
    const specs = checkpointLayout(numberParam(params, 'scale'));
    const wanted = specs.find((s) => s.key === PARTIAL_KEY)!;
    const { client, counter } = countingClient(params);
    const headerBytes = await headerRegionBytes(client, params);
    counter.bytes = 0;
    counter.requests = 0;
    const url = `s3://${stringParam(params, 'bucket')}/${stringParam(params, 'key')}`;
    const keys = partial ? (name: string) => name.endsWith(`.${PARTIAL_KEY}`) : undefined;
    const expected = partial ? wanted.byteLength : totalBytes(specs);
    let loaded: Record<string, unknown> = {};
    const phase = await measurePhase('load', async () => {
      loaded = await loadCheckpoint(url, { storageOptions: strataOptionsWithClient(params, client), keys });
      return {
        bytes: expected,
        outputBytes: expected,
        extra: { serverBytes: counter.bytes, requests: counter.requests, neededBytes: expected + headerBytes },
      };
    });
    verifyLoaded(specs, loaded, partial ? 'strata partial' : 'strata full', partial ? (k) => k === PARTIAL_KEY : undefined);
    client.destroy();
    return { phases: [phase] };
  };
}

/** The least a user can do: the 8-byte prefix, the header, then exactly the tensor's range. */
const partialSdk: Task = async (params) => {
  const specs = checkpointLayout(numberParam(params, 'scale'));
  const wanted = specs.find((s) => s.key === PARTIAL_KEY)!;
  const { client, counter } = countingClient(params);
  let tensor = new Uint8Array(0);
  let headerBytes = 0;
  const phase = await measurePhase('load', async () => {
    headerBytes = await headerRegionBytes(client, params);
    const headerImage = new Uint8Array(headerBytes);
    await readInto(client, params, headerImage, 0, headerBytes);
    const parsed = parseSafetensorsHeader(headerImage);
    const t = parsed.tensors.get(`state_dict.${PARTIAL_KEY}`)!;
    const region = new Uint8Array(t.end - t.start);
    const start = parsed.dataStart + t.start;
    const got = await client.send(new GetObjectCommand({ ...bucketKey(params), Range: `bytes=${start}-${parsed.dataStart + t.end - 1}` }));
    let position = 0;
    for await (const chunk of got.Body as AsyncIterable<Uint8Array>) {
      region.set(chunk, position);
      position += chunk.length;
    }
    tensor = region;
    return {
      bytes: wanted.byteLength,
      outputBytes: wanted.byteLength,
      extra: { serverBytes: counter.bytes, requests: counter.requests, neededBytes: wanted.byteLength + headerBytes },
    };
  });
  verifyTensorBytes(wanted, tensor, 'aws-sdk partial');
  client.destroy();
  return { phases: [phase] };
};

export const tasks: Record<string, Task> = {
  'save-libstorage': saveLibStorage,
  'load-ranged': loadRanged,
  'small-objects': smallObjects,
  'load-partial-strata': loadCounted(true),
  'load-full-strata': loadCounted(false),
  'load-partial-sdk': partialSdk,
};
