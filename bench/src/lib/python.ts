// The Python contenders' virtualenv: created under .cache/bench-venv from bench/py/requirements.txt
// (pinned versions from PyPI) and recreated whenever that file changes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { benchDir, repoRoot } from './paths.js';

export const venvDir = path.join(repoRoot, '.cache', 'bench-venv');
const requirementsFile = path.join(benchDir, 'py', 'requirements.txt');
const stampFile = path.join(venvDir, '.strata-bench-stamp');

export function venvPython(): string {
  return path.join(venvDir, 'bin', 'python');
}

function run(command: string, args: string[], what: string): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new Error(`${what}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${what} exited with ${result.status ?? result.signal}`);
}

/** Returns the venv's python, creating or updating the venv first if needed. */
export function ensureVenv(log: (line: string) => void): string {
  const requirements = readFileSync(requirementsFile, 'utf8');
  const digest = createHash('sha256').update(requirements).digest('hex');
  if (existsSync(venvPython()) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === digest) return venvPython();
  const basePython = process.env.BENCH_PYTHON ?? 'python3';
  if (!existsSync(venvPython())) {
    log(`creating the Python venv ${path.relative(repoRoot, venvDir)} from bench/py/requirements.txt (one time; takes a minute or more)`);
    rmSync(venvDir, { recursive: true, force: true });
    run(basePython, ['-m', 'venv', venvDir], `${basePython} -m venv`);
  } else {
    log(`updating the Python venv ${path.relative(repoRoot, venvDir)}: bench/py/requirements.txt changed`);
  }
  run(venvPython(), ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '-r', requirementsFile], 'pip install');
  writeFileSync(stampFile, digest);
  return venvPython();
}

/** `{ package: version }` of the venv's benchmark packages. */
export function pythonVersions(python: string): Record<string, string> {
  const script =
    'import importlib.metadata as m, json, sys\n' +
    'names = ["fsspec", "s3fs", "gcsfs", "adlfs", "safetensors", "numpy", "ml_dtypes"]\n' +
    'out = {"python": sys.version.split()[0]}\n' +
    'out.update({n: m.version(n) for n in names})\n' +
    'print(json.dumps(out))';
  const result = spawnSync(python, ['-c', script], { encoding: 'utf8' });
  if (result.status !== 0) return {};
  return JSON.parse(result.stdout) as Record<string, string>;
}
