import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { repoRoot } from './paths.js';

export interface MachineDescription {
  date: string;
  os: string;
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  versions: Record<string, string>;
  gitCommit?: string | undefined;
  /** 1-minute load average at start and end: the machine is shared, so this says how quiet it was. */
  loadAverageStart: number;
  loadAverageEnd?: number | undefined;
}

function packageVersion(name: string): string | undefined {
  try {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return manifest.version;
  } catch {
    return undefined;
  }
}

export function describeMachine(): MachineDescription {
  const versions: Record<string, string> = {};
  for (const name of ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@google-cloud/storage', '@azure/storage-blob', 'memfs', 'opendal']) {
    const v = packageVersion(name);
    if (v) versions[name] = v;
  }
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' });
  // Measured code that differs from the commit must say so.
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: repoRoot, encoding: 'utf8' });
  const changed = dirty.status === 0 && dirty.stdout.trim() !== '' ? ' + uncommitted changes in packages/' : '';
  return {
    date: new Date().toISOString(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    node: process.version,
    versions,
    gitCommit: commit.status === 0 ? commit.stdout.trim() + changed : undefined,
    loadAverageStart: os.loadavg()[0]!,
  };
}
