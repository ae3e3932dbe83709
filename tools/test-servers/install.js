#!/usr/bin/env node
// Installs the loopback test servers into <repo>/.cache (git-ignored). Idempotent: a component whose
// stamp matches the pinned version is left alone, so a second run takes well under a second.
//
//   node tools/test-servers/install.js [--force] [--only=minio,fake-gcs-server,azurite,python]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';

import {
  PYTHON_REQUIREMENTS,
  binDir,
  cacheDir,
  goTools,
  readStamp,
  stampDir,
  stampPath,
  venvDir,
  venvPython,
} from './config.js';

const COMPONENTS = ['minio', 'fake-gcs-server', 'azurite', 'python'];

class InstallError extends Error {}

function parseArgs(argv) {
  const options = { force: false, only: COMPONENTS };
  for (const arg of argv) {
    if (arg === '--force') options.force = true;
    else if (arg.startsWith('--only=')) {
      const wanted = arg.slice('--only='.length).split(',').filter(Boolean);
      const unknown = wanted.filter((name) => !COMPONENTS.includes(name));
      if (unknown.length > 0) throw new InstallError(`unknown component(s) ${unknown.join(', ')}; known: ${COMPONENTS.join(', ')}`);
      options.only = wanted;
    } else if (arg === '--help' || arg === '-h') {
      console.log('usage: node tools/test-servers/install.js [--force] [--only=' + COMPONENTS.join(',') + ']');
      process.exit(0);
    } else throw new InstallError(`unknown argument ${arg}`);
  }
  return options;
}

function log(message) {
  console.log(`[test-servers] ${message}`);
}

function seconds(startedAt) {
  return Math.round((performance.now() - startedAt) / 100) / 10;
}

/** Runs a command with inherited output; throws InstallError naming the step when it fails. */
function run(step, command, args, options = {}) {
  log(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw new InstallError(`${step}: could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.status}`;
    throw new InstallError(`${step}: \`${[command, ...args].join(' ')}\` ${how}`);
  }
}

function capture(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.trim();
}

function writeStamp(name, fields) {
  mkdirSync(stampDir, { recursive: true });
  writeFileSync(stampPath(name), JSON.stringify({ ...fields, installedAt: new Date().toISOString() }, null, 2) + '\n');
}

function isExecutableFile(file) {
  try {
    return statSync(file).isFile() && (statSync(file).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function installGoTool(name, force) {
  const tool = goTools[name];
  const stamp = readStamp(name);
  if (!force && stamp?.version === tool.version && isExecutableFile(tool.binary)) {
    log(`${name} ${tool.version}: already installed at ${path.relative(process.cwd(), tool.binary) || tool.binary}`);
    return;
  }
  const goVersion = capture('go', ['version']);
  if (goVersion === undefined) throw new InstallError(`${name}: the \`go\` command is missing; install Go (>= 1.24) first`);
  mkdirSync(binDir, { recursive: true });
  rmSync(stampPath(name), { force: true });
  log(`${name}: building ${tool.module}@${tool.version} with ${goVersion} (first build takes minutes)`);
  const startedAt = performance.now();
  // GOBIN puts the binary into .cache/bin; GOPATH stays default so the module and build caches persist.
  run(`${name} build`, 'go', ['install', `${tool.module}@${tool.version}`], {
    env: { ...process.env, GOBIN: binDir },
    cwd: cacheDir,
  });
  if (!isExecutableFile(tool.binary)) throw new InstallError(`${name}: go install succeeded but ${tool.binary} is missing`);
  const buildSeconds = seconds(startedAt);
  writeStamp(name, { module: tool.module, version: tool.version, go: goVersion, buildSeconds });
  log(`${name}: built in ${buildSeconds} s`);
}

function checkAzurite() {
  const require = createRequire(import.meta.url);
  const ownManifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
  const wanted = ownManifest.dependencies.azurite;
  let manifestPath;
  try {
    manifestPath = require.resolve('azurite/package.json');
  } catch {
    throw new InstallError(`azurite: the npm package is not installed; run \`npm ci\` at the repository root`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (manifest.version !== wanted) {
    throw new InstallError(`azurite: found ${manifest.version} but ${wanted} is pinned; run \`npm ci\` at the repository root`);
  }
  const blobMain = path.join(path.dirname(manifestPath), manifest.bin['azurite-blob']);
  if (!existsSync(blobMain)) throw new InstallError(`azurite: ${blobMain} is missing; run \`npm ci\``);
  log(`azurite ${manifest.version}: present (npm dependency, nothing to build)`);
}

function pythonCheckScript() {
  return 'import sys, safetensors, numpy, ml_dtypes; print(sys.version.split()[0], safetensors.__version__, numpy.__version__, ml_dtypes.__version__)';
}

function installPython(force) {
  const basePython = process.env.STRATA_PYTHON || 'python3';
  const stamp = readStamp('python');
  const python = venvPython();
  if (!force && stamp && JSON.stringify(stamp.requirements) === JSON.stringify(PYTHON_REQUIREMENTS) && existsSync(python)) {
    const versions = capture(python, ['-c', pythonCheckScript()]);
    if (versions !== undefined) {
      log(`python venv: already installed at ${venvDir} (python, safetensors, numpy, ml_dtypes = ${versions})`);
      return;
    }
    log('python venv: present but broken (base python changed?); recreating');
  }
  const baseVersion = capture(basePython, ['--version']);
  if (baseVersion === undefined) throw new InstallError(`python venv: \`${basePython}\` is missing; install Python 3.10+ or set STRATA_PYTHON`);
  rmSync(stampPath('python'), { force: true });
  const startedAt = performance.now();
  log(`python venv: creating ${venvDir} with ${baseVersion}`);
  run('python venv', basePython, ['-m', 'venv', '--clear', venvDir]);
  run('python packages', python, [
    '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', '--only-binary=:all:',
    ...PYTHON_REQUIREMENTS,
  ]);
  const versions = capture(python, ['-c', pythonCheckScript()]);
  if (versions === undefined) throw new InstallError('python venv: packages installed but `import safetensors, numpy, ml_dtypes` fails');
  const installSeconds = seconds(startedAt);
  writeStamp('python', { requirements: PYTHON_REQUIREMENTS, python: baseVersion, installSeconds });
  log(`python venv: ready in ${installSeconds} s (python, safetensors, numpy, ml_dtypes = ${versions})`);
}

/** Serialises concurrent installs (several engineers share one machine and one .cache). */
async function withInstallLock(body) {
  const lockDir = path.join(cacheDir, 'install.lock');
  mkdirSync(cacheDir, { recursive: true });
  const deadline = Date.now() + 30 * 60_000;
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(path.join(lockDir, 'pid'), 'utf8'));
      } catch {
        // the holder has created the directory but not yet written its pid
      }
      if (Number.isInteger(holder) && !processIsAlive(holder)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new InstallError(`another install (pid ${holder}) has held ${lockDir} for 30 minutes`);
      if (!announced) log(`waiting for another install.js (pid ${holder}) to finish`);
      announced = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function processIsAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const startedAt = performance.now();
  log(`installing into ${cacheDir}: ${options.only.join(', ')}${options.force ? ' (forced)' : ''}`);
  await withInstallLock(async () => {
    for (const component of options.only) {
      if (component === 'minio' || component === 'fake-gcs-server') installGoTool(component, options.force);
      else if (component === 'azurite') checkAzurite();
      else if (component === 'python') installPython(options.force);
    }
  });
  log(`done in ${seconds(startedAt)} s`);
}

main().catch((error) => {
  const message = error instanceof InstallError ? error.message : error.stack || String(error);
  console.error(`[test-servers] INSTALL FAILED: ${message}`);
  process.exit(1);
});
