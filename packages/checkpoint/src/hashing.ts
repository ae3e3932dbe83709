import { Worker } from 'node:worker_threads';

/**
 * SHA-256 of byte views on a worker thread. AsyncCheckpointIO snapshots into SharedArrayBuffers,
 * so the worker reads them in place: no copy, and training keeps the main thread while it hashes.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, views }) => {
  try {
    parentPort.postMessage({ id, digests: views.map((v) => createHash('sha256').update(v).digest('hex')) });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
  }
});
`;

interface Job {
  resolve: (digests: string[]) => void;
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
  w.on('message', (msg: { id: number; digests?: string[]; error?: string }) => {
    const job = jobs.get(msg.id);
    if (!job) return;
    jobs.delete(msg.id);
    if (msg.error !== undefined) job.reject(new Error(`hash worker: ${msg.error}`));
    else job.resolve(msg.digests!);
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

export function sha256OnWorker(views: Uint8Array[]): Promise<string[]> {
  const w = hashWorker();
  const id = nextId++;
  return new Promise<string[]>((resolve, reject) => {
    jobs.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, views });
  });
}
