import { CorruptCheckpointError } from '@strata/checkpoint';
import { NotFoundError, type FileInfo } from '@strata/fs-core';
import { checkpointNamePattern } from './format.js';
import type { ModelCheckpoint } from './model-checkpoint.js';
import type { Trainer } from './trainer.js';
import type { CheckpointDict } from './types.js';
import { basenameUrl, entryToUrl, joinUrl, normalizeUrl } from './urls.js';

interface Candidate {
  url: string;
  mtime: number;
}

/** The directories 'last' and 'best' are looked up in: every ModelCheckpoint's, or `<root>/checkpoints`. */
function checkpointDirs(trainer: Trainer): string[] {
  const dirs = trainer.checkpointCallbacks.map((cb) => cb.dirpath).filter((d): d is string => d !== undefined);
  return dirs.length > 0 ? [...new Set(dirs)] : [joinUrl(trainer.defaultRootDir, 'checkpoints')];
}

/** Files of `dir` through fs-core's listing, which works the same on object stores (no symlinks needed). */
async function listCheckpoints(trainer: Trainer, dir: string, accept: (name: string) => boolean): Promise<Candidate[]> {
  const { fs, path } = await trainer.fileSystems.get(dir);
  let entries: FileInfo[];
  try {
    entries = await fs.ls(path);
  } catch (error) {
    if (error instanceof NotFoundError) return [];
    throw error;
  }
  return entries
    .filter((e) => e.type === 'file' && accept(basenameUrl(e.name)))
    .map((e) => ({ url: entryToUrl(dir, e.name), mtime: e.mtime?.getTime() ?? 0 }));
}

/** Reads only the non-tensor part of a checkpoint (a header range read). */
async function readHead(trainer: Trainer, url: string): Promise<CheckpointDict> {
  return (await trainer.checkpointIO.loadCheckpoint(url, { keys: () => false })) as CheckpointDict;
}

/**
 * The newest of several checkpoints: the latest mtime, as in Lightning, so a fresh run's last-v1
 * wins over an older run's longer last. Object-store mtimes have one-second resolution, so within
 * one second the global_step stored inside each file decides, then the exact mtime and the name.
 */
async function newest(trainer: Trainer, candidates: Candidate[]): Promise<{ url: string; head: CheckpointDict } | undefined> {
  let best: { url: string; head: CheckpointDict; step: number; mtime: number } | undefined;
  for (const c of candidates) {
    let head: CheckpointDict;
    try {
      head = await readHead(trainer, c.url);
    } catch (error) {
      // Gone (a dangling link) or never loadable: skipped, as Lightning drops a last file that does
      // not exist. Anything else (a timeout, a 403) may pass: training must not restart from scratch.
      if (!(error instanceof NotFoundError || error instanceof CorruptCheckpointError)) throw error;
      trainer.warn(`Skipping ${c.url} while looking for the newest checkpoint: ${(error as Error).message}`);
      continue;
    }
    const step = Number(head.global_step ?? -1);
    if (!best || compareNewest({ ...c, step }, best) > 0) best = { url: c.url, head, step, mtime: c.mtime };
  }
  return best && { url: best.url, head: best.head };
}

function compareNewest(a: Candidate & { step: number }, b: Candidate & { step: number }): number {
  const second = (ms: number) => Math.floor(ms / 1000);
  return second(a.mtime) - second(b.mtime) || a.step - b.step || a.mtime - b.mtime || (a.url > b.url ? 1 : a.url < b.url ? -1 : 0);
}

function bestPathFromState(trainer: Trainer, head: CheckpointDict): string | undefined {
  const states = head.callbacks ?? {};
  const preferred: ModelCheckpoint | undefined = trainer.checkpointCallback;
  const own = preferred ? states[preferred.stateKey] : undefined;
  if (own && typeof own.best_model_path === 'string' && own.best_model_path) return own.best_model_path;
  const all = Object.entries(states).filter(([k, s]) => k.startsWith('ModelCheckpoint') && typeof s.best_model_path === 'string' && s.best_model_path);
  return all.length === 1 ? (all[0]![1].best_model_path as string) : undefined;
}

/**
 * Turns `fit`'s ckptPath into a URL. 'last' lists the checkpoint directories for `last*.ckpt`;
 * 'best' takes the ModelCheckpoint's bestModelPath, from memory or from the newest checkpoint's
 * saved callback state. Returns undefined when 'last' finds nothing (training starts fresh).
 */
export async function resolveCheckpointPath(trainer: Trainer, ckptPath: string): Promise<string | undefined> {
  if (ckptPath === 'last') {
    const dirs = checkpointDirs(trainer);
    const candidates: Candidate[] = [];
    for (const dir of dirs) {
      const cb = trainer.checkpointCallbacks.find((c) => c.dirpath === dir);
      // The stem may be a template such as '{epoch}-last': match every name it can format to.
      const isLast = checkpointNamePattern(cb?.checkpointNameLast ?? 'last', cb?.autoInsertMetricName ?? true);
      candidates.push(...(await listCheckpoints(trainer, dir, (name) => isLast.test(name))));
    }
    // Read even a single candidate's header: a dangling link or an unreadable file is skipped (Lightning drops ones that do not exist).
    const found = (await newest(trainer, candidates))?.url;
    if (!found) {
      trainer.warn(`ckptPath 'last' is set, but there is no readable last checkpoint in ${dirs.join(', ')}; training starts from scratch. Hint: ModelCheckpoint({ saveLast: true })`);
      return undefined;
    }
    return found;
  }
  if (ckptPath === 'best') {
    const inMemory = trainer.checkpointCallback?.bestModelPath;
    if (inMemory) return inMemory;
    if (trainer.checkpointCallbacks.length === 0) {
      throw new Error(`ckptPath 'best' needs a ModelCheckpoint callback to know where checkpoints are`);
    }
    const dirs = checkpointDirs(trainer);
    const candidates: Candidate[] = [];
    for (const dir of dirs) candidates.push(...(await listCheckpoints(trainer, dir, (n) => n.endsWith('.ckpt'))));
    const latest = await newest(trainer, candidates);
    const best = latest && bestPathFromState(trainer, latest.head);
    if (!best) throw new Error(`ckptPath 'best': no ModelCheckpoint state naming a best checkpoint was found in ${dirs.join(', ')}`);
    return best;
  }
  return normalizeUrl(ckptPath, trainer.localRoot);
}
