// Makes sure the Strata packages the scenarios import are built; records the ones that cannot be.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { repoRoot } from './paths.js';

/** Dependency order: each package only needs the ones before it. */
export const STRATA_PACKAGES = ['fs-core', 'fs-s3', 'fs-gcs', 'fs-azure', 'checkpoint', 'trainer'] as const;
export type StrataPackage = (typeof STRATA_PACKAGES)[number];

function newestMtime(dir: string): number {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function hasTypeScript(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? hasTypeScript(path.join(dir, e.name)) : e.name.endsWith('.ts')));
}

/**
 * Builds every package whose dist/ is missing or older than its src/ (tsc -p tsconfig.build.json).
 * Returns the packages that could not be built, with the first error line.
 */
export function ensureBuilt(log: (line: string) => void): Map<StrataPackage, string> {
  const unavailable = new Map<StrataPackage, string>();
  for (const name of STRATA_PACKAGES) {
    const dir = path.join(repoRoot, 'packages', name);
    const src = path.join(dir, 'src');
    if (!hasTypeScript(src)) {
      unavailable.set(name, `@strata/${name} has no source yet`);
      continue;
    }
    const dist = path.join(dir, 'dist');
    const upstreamFailed = [...unavailable.keys()].some((dep) => dependsOn(dir, dep));
    if (upstreamFailed) {
      unavailable.set(name, `@strata/${name} depends on a package that is unavailable`);
      continue;
    }
    if (existsSync(path.join(dist, 'index.js')) && newestMtime(dist) >= newestMtime(src)) continue;
    log(`building @strata/${name}`);
    const result = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0 || !existsSync(path.join(dist, 'index.js'))) {
      const firstError = `${result.stdout}\n${result.stderr}`.split('\n').find((l) => l.includes('error')) ?? `exit ${result.status}`;
      unavailable.set(name, `@strata/${name} does not build: ${firstError.trim()}`);
    }
  }
  return unavailable;
}

function dependsOn(dir: string, dep: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    return Object.hasOwn(manifest.dependencies ?? {}, `@strata/${dep}`);
  } catch {
    return false;
  }
}
