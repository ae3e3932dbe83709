import { Worker } from 'node:worker_threads';

/**
 * SHA-256 on a worker thread, without copying: AsyncCheckpointIO snapshots into SharedArrayBuffers,
 * which the worker reads in place; loads move a freshly read buffer there and back (transfer).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sha256 = (v) => createHash('sha256').update(v).digest('hex');
parentPort.on('message', ({ id, views, buffer, slices }) => {
  const back = buffer ? [buffer] : [];
  try {
    const digests = buffer ? slices.map(([s, e]) => sha256(new Uint8Array(buffer, s, e - s))) : views.map(sha256);
    parentPort.postMessage({ id, digests, buffer }, back);
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error), buffer }, back);
  }
});
`;

interface Reply {
  digests: string[];
  buffer?: ArrayBuffer;
}

interface Job {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
}

let worker: Worker | undefined;
const jobs = new Map<number, Job>();
let nextId = 0;

function failAll(error: Error): void {
  for (const job of jobs.values()) job.reject(error);
  jobs.clear();
  worker = undefined;
}

function hashWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true, name: 'strata-checkpoint-hash' });
  w.on('message', (msg: { id: number; digests?: string[]; buffer?: ArrayBuffer; error?: string }) => {
    const job = jobs.get(msg.id);
    if (!job) return;
    jobs.delete(msg.id);
    if (msg.error !== undefined) job.reject(new Error(`hash worker: ${msg.error}`));
    else job.resolve({ digests: msg.digests!, buffer: msg.buffer });
    if (jobs.size === 0) w.unref(); // an idle worker must not keep the process alive
  });
  w.on('error', failAll);
  w.on('exit', () => failAll(new Error('hash worker exited')));
  worker = w;
  return w;
}

export function isShared(view: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer;
}

function post(message: object, transfer: ArrayBuffer[]): Promise<Reply> {
  const w = hashWorker();
  const id = nextId++;
  return new Promise<Reply>((resolve, reject) => {
    jobs.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, ...message }, transfer);
  });
}

export async function sha256OnWorker(views: Uint8Array[]): Promise<string[]> {
  return (await post({ views }, [])).digests;
}

/** True while the worker has work; callers with a choice hash on their own thread then. */
export function hashWorkerBusy(): boolean {
  return jobs.size > 0;
}

/** Whether `view` covers a whole ordinary ArrayBuffer, so that buffer can be moved to the worker. */
export function isWholeBuffer(view: Uint8Array): boolean {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/**
 * SHA-256 of `[start, end)` slices of `bytes`, hashed on the worker. `bytes.buffer` is moved there
 * (detached here until the reply) and handed back as `bytes` in the result, so it must be the
 * caller's own (see isWholeBuffer) and not be touched meanwhile.
 */
export async function sha256SlicesOnWorker(bytes: Uint8Array, slices: [number, number][]): Promise<{ bytes: Uint8Array; digests: string[] }> {
  const buffer = bytes.buffer as ArrayBuffer;
  const reply = await post({ buffer, slices }, [buffer]);
  return { bytes: new Uint8Array(reply.buffer!), digests: reply.digests };
}
