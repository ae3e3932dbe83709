import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { StorageOptions } from '@strata/fs-core';

import { loadCheckpoint } from '../../src/index.js';

const saver = fileURLToPath(new URL('./saver.mjs', import.meta.url));

export interface CrashRun {
  /** How each kill was timed. */
  kills: { mode: string; phase: string; loadedGeneration: number | undefined }[];
  /** Generation the file held after the last kill. */
  finalGeneration: number | undefined;
}

function pattern(generation: number, index: number): number {
  return (generation * 131 + (index % 4096) * 7) & 0xff;
}

/**
 * Starts a saver child, kills it with SIGKILL at a random moment (a random time, or a random point
 * of a save's progress, including just after a commit), then checks the URL holds a complete,
 * digest-verified checkpoint of the last committed generation or of the one being written.
 */
export async function crashLoop(options: {
  url: string;
  storageOptions?: StorageOptions;
  iterations: number;
  tensorBytes: number;
  seed: number;
  log?: (line: string) => void;
}): Promise<CrashRun> {
  let rng = options.seed >>> 0 || 1;
  const random = (): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) / 2 ** 32;
  };
  const kills: CrashRun['kills'] = [];
  let onDisk: number | undefined; // generation verified after the previous kill
  let saveMillis = 2000; // running estimate of one save's duration
  for (let i = 0; i < options.iterations; i++) {
    const first = (onDisk ?? -1) + 1;
    const child = spawn(process.execPath, [saver, options.url, String(first), String(options.tensorBytes)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Options (with the test server's keys) go through the environment, not the command line.
      env: { ...process.env, STRATA_CRASH_STORAGE_OPTIONS: JSON.stringify(options.storageOptions ?? {}) },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const mode = random() < 0.5 ? 'time' : 'progress';
    // Progress mode: kill once this fraction of the first save's bytes went out (>= 1: right after its commit).
    const targetSave = first;
    const targetFraction = random() * 1.1;
    // Time mode: kill at a random moment of the first save (writes, commit, or the next save's start),
    // measured from its start so that child start-up time is not wasted.
    const delay = random() * 1.2 * saveMillis;
    let startedAt = 0;
    let committed: number | undefined;
    let inProgress: number | undefined;
    let phase = 'starting';
    let timer: NodeJS.Timeout | undefined;
    // "close" (not "exit"): every line the child printed before it died has been read by then.
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    const kill = (why: string): void => {
      if (child.exitCode === null && child.signalCode === null) {
        phase = why;
        child.kill('SIGKILL');
      }
    };
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const [what, genText, doneText, totalText] = line.split(' ');
      const generation = Number(genText);
      if (what === 'start') {
        inProgress = generation;
        if (generation === first) {
          startedAt = Date.now();
          if (mode === 'time') timer = setTimeout(() => kill(`${Math.round(delay)} ms into save ${first} (saving ${inProgress})`), delay);
        }
      }
      if (what === 'saved') {
        committed = generation;
        if (generation === first) saveMillis = 0.5 * saveMillis + 0.5 * (Date.now() - startedAt);
        if (mode === 'progress' && generation === targetSave && targetFraction >= 1) kill(`after commit of ${generation}`);
      }
      if (what === 'progress' && mode === 'progress' && generation === targetSave && targetFraction < 1) {
        if (Number(doneText) >= targetFraction * Number(totalText)) kill(`writing ${generation} at ${doneText}/${totalText}`);
      }
    });
    // A child that never reaches its kill point must not hang the test.
    const watchdog = setTimeout(() => kill('watchdog'), 60_000);
    const exit = await exited;
    clearTimeout(watchdog);
    clearTimeout(timer);
    lines.close();
    if (exit.signal !== 'SIGKILL') throw new Error(`saver exited on its own (${exit.code}): ${stderr}`);
    if (phase === 'watchdog') throw new Error(`saver did not reach its kill point: ${stderr}`);

    let loadedGeneration: number | undefined;
    try {
      const ckpt = (await loadCheckpoint(options.url, { storageOptions: options.storageOptions })) as { generation: number; weights: { data: Uint8Array } };
      loadedGeneration = ckpt.generation;
      const data = ckpt.weights.data;
      if (data.length !== options.tensorBytes) throw new Error(`generation ${loadedGeneration} has ${data.length} bytes`);
      for (const at of [0, 4095, 4096, data.length >> 1, data.length - 1]) {
        if (data[at] !== pattern(loadedGeneration, at)) throw new Error(`generation ${loadedGeneration} has wrong data at ${at}`);
      }
    } catch (error) {
      const notFound = (error as { code?: string }).code === 'ENOENT';
      if (!(notFound && onDisk === undefined && committed === undefined)) throw error;
    }
    // Before the kill the file held `onDisk` and then each generation this child committed.
    const allowed = new Set([committed ?? onDisk, inProgress]);
    if (!allowed.has(loadedGeneration)) {
      throw new Error(`after kill ${i} (${phase}) the file holds generation ${loadedGeneration}; expected ${[...allowed].join(' or ')}`);
    }
    options.log?.(`kill ${i + 1}/${options.iterations} [${mode}] ${phase}: file holds generation ${loadedGeneration ?? 'none'}`);
    kills.push({ mode, phase, loadedGeneration });
    onDisk = loadedGeneration;
  }
  return { kills, finalGeneration: onDisk };
}

