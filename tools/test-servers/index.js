// Starts the loopback S3 (MinIO), GCS (fake-gcs-server) and Azure Blob (Azurite) servers the tests use.
// Each server gets a free 127.0.0.1 port and a fresh temp dir; stop() kills its whole process group,
// waits for it to exit and removes the dir. A watchdog shell kills the server if this process dies
// without calling stop(), so no orphaned server is left on the shared machine.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

import { INSTALL_HINT, goTools, readStamp, venvPython } from './config.js';

const HOST = '127.0.0.1';
const DEFAULT_START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const MAX_PORT_ATTEMPTS = 5;
const OUTPUT_TAIL_BYTES = 16_384;

export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
// The well-known Azurite development key, published in Azurite's documentation; not a secret.
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const S3_ACCESS_KEY_ID = 'strata-test';
const S3_SECRET_ACCESS_KEY = 'strata-test-secret';
const S3_REGION = 'us-east-1';
const GCS_PROJECT_ID = 'strata-test';

/** Servers started by this process and not yet stopped, for cleanup on exit. */
const liveServers = new Set();

export class TestServerError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'TestServerError';
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries

function isExecutableFile(file) {
  try {
    const stats = statSync(file);
    return stats.isFile() && (stats.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function goBinary(name) {
  const tool = goTools[name];
  if (!isExecutableFile(tool.binary)) {
    throw new TestServerError(`${name} is not installed (${tool.binary} is missing); ${INSTALL_HINT}`);
  }
  const stamp = readStamp(name);
  if (stamp?.version !== tool.version) {
    throw new TestServerError(
      `${name} at ${tool.binary} is ${stamp?.version ?? 'of unknown version'} but ${tool.version} is pinned; ${INSTALL_HINT}`,
    );
  }
  return tool.binary;
}

function azuriteBlobMain() {
  const require = createRequire(import.meta.url);
  let manifestPath;
  try {
    manifestPath = require.resolve('azurite/package.json');
  } catch (cause) {
    throw new TestServerError('azurite is not installed; run `npm ci` at the repository root', { cause });
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const main = path.join(path.dirname(manifestPath), manifest.bin['azurite-blob']);
  if (!existsSync(main)) throw new TestServerError(`azurite-blob entry ${main} is missing; run \`npm ci\``);
  return main;
}

/** The Python of the test venv (safetensors, numpy, ml_dtypes installed). */
export function pythonPath() {
  const python = venvPython();
  if (!existsSync(python)) throw new TestServerError(`the test Python venv is missing (${python}); ${INSTALL_HINT}`);
  return python;
}

// ---------------------------------------------------------------------------------------------
// Ports and readiness

/** A port that was free a moment ago; the caller retries if another process takes it first. */
export function findFreePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One HTTP request without connection pooling, so no socket outlives the probe. */
function probe(url, { method = 'GET', timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, agent: false, timeout: timeoutMs }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Process management

function appendTail(tail, chunk) {
  const joined = tail + chunk.toString('utf8');
  return joined.length > OUTPUT_TAIL_BYTES ? joined.slice(joined.length - OUTPUT_TAIL_BYTES) : joined;
}

function shellQuote(value) {
  return `'${String(value).replaceAll("'", `'\\''`)}'`;
}

/**
 * Kills the server's process group and removes its data dir once this Node process is gone, in case
 * it dies without running exit handlers (SIGKILL, OOM). It lives in its own group so stop() leaves it
 * alone; it exits by itself within a second of the server exiting.
 */
function startWatchdog(serverPid, dataDir) {
  const script = [
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${serverPid} 2>/dev/null; do sleep 1; done`,
    `if ! kill -0 ${process.pid} 2>/dev/null; then`,
    `  kill -TERM -${serverPid} 2>/dev/null; sleep 3; kill -KILL -${serverPid} 2>/dev/null`,
    `  rm -rf ${shellQuote(dataDir)}`,
    'fi',
  ].join('\n');
  try {
    const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
    watchdog.on('error', () => {});
    watchdog.unref();
  } catch {
    // Without /bin/sh we still clean up on normal exit and signals.
  }
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

let exitHandlersInstalled = false;

function installExitHandlers() {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const server of liveServers) {
      killGroup(server.pid, 'SIGKILL');
      try {
        rmSync(server.dataDir, { recursive: true, force: true });
      } catch {
        // best effort while exiting
      }
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    // Only take over a signal nobody else handles; then re-raise it so the default action still happens.
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      for (const server of liveServers) killGroup(server.pid, 'SIGKILL');
      process.kill(process.pid, signal);
    });
  }
}

function debugOutputEnabled() {
  return /^(1|true|yes)$/i.test(process.env.STRATA_TEST_SERVERS_LOG ?? '');
}

/**
 * Spawns `command` in its own process group and waits until `isReady()` says so.
 * Returns a handle with the pid, the output tail and an idempotent stop().
 */
async function launch({ name, command, args, env, dataDir, isReady, timeoutMs }) {
  installExitHandlers();
  const child = spawn(command, args, {
    env,
    cwd: dataDir,
    detached: true, // own process group: stop() kills the server and any children it forked
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = { name, pid: child.pid, dataDir, output: '', exited: false, exitCode: null, exitSignal: null };
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      server.exited = true;
      server.exitCode = code;
      server.exitSignal = signal;
      liveServers.delete(server);
      resolve();
    });
  });
  const spawnError = new Promise((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});
  const echo = debugOutputEnabled();
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      server.output = appendTail(server.output, chunk);
      if (echo) process.stderr.write(`[${name}] ${chunk}`);
    });
  }
  if (child.pid === undefined) {
    await spawnError.catch((cause) => {
      throw new TestServerError(`could not start ${name} (${command}): ${cause.message}`, { cause });
    });
  }
  liveServers.add(server);
  startWatchdog(child.pid, dataDir);

  let stopping;
  server.stop = () => {
    stopping ??= (async () => {
      if (!server.exited) {
        killGroup(child.pid, 'SIGTERM');
        let graceTimer;
        const timedOut = await Promise.race([
          exitPromise.then(() => false),
          new Promise((resolve) => {
            graceTimer = setTimeout(() => resolve(true), STOP_GRACE_MS);
          }),
        ]);
        clearTimeout(graceTimer);
        if (timedOut) {
          killGroup(child.pid, 'SIGKILL');
          await exitPromise;
        }
      }
      // Children that ignored SIGTERM may outlive the leader; the group id still names them.
      killGroup(child.pid, 'SIGKILL');
      liveServers.delete(server);
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer yet';
  while (!server.exited) {
    if (Date.now() > deadline) {
      await server.stop();
      throw new TestServerError(
        `${name} did not become ready within ${timeoutMs} ms (${lastProblem}); last output:\n${server.output}`,
      );
    }
    try {
      const verdict = await isReady();
      if (verdict === true) return server;
      lastProblem = verdict || 'not ready';
    } catch (error) {
      lastProblem = error.message;
    }
    await delay(100);
  }
  await server.stop();
  return server; // exited before ready: the caller inspects output/exit status
}

function addressInUse(output) {
  return /address already in use|EADDRINUSE|bind: address/i.test(output);
}

/**
 * Picks ports, launches and retries when another process grabbed a port between picking and binding.
 * `build(ports)` returns the launch options for those ports.
 */
async function launchOnFreePorts(name, portCount, build, timeoutMs) {
  for (let attempt = 1; ; attempt++) {
    const ports = [];
    while (ports.length < portCount) {
      const port = await findFreePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `strata-${name}-`));
    const options = build(ports, dataDir);
    const server = await launch({ name, dataDir, timeoutMs, ...options });
    if (!server.exited) return { server, ports };
    const status = server.exitSignal ? `signal ${server.exitSignal}` : `code ${server.exitCode}`;
    if (addressInUse(server.output) && attempt < MAX_PORT_ATTEMPTS) continue;
    throw new TestServerError(`${name} exited with ${status} before it was ready; last output:\n${server.output}`);
  }
}

/** The parent environment without variables that would reconfigure the servers behind our back. */
function cleanEnv(prefixes) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!prefixes.some((prefix) => key.startsWith(prefix))) env[key] = value;
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// Servers

/** MinIO, single drive, on a fresh temp dir. */
export async function startS3Server(options = {}) {
  const binary = goBinary('minio');
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const { server, ports } = await launchOnFreePorts(
    'minio',
    2,
    ([port, consolePort], dataDir) => {
      const endpoint = `http://${HOST}:${port}`;
      return {
        command: binary,
        args: [
          'server', path.join(dataDir, 'data'),
          '--address', `${HOST}:${port}`,
          '--console-address', `${HOST}:${consolePort}`,
          '--quiet', '--anonymous',
        ],
        env: {
          ...cleanEnv(['MINIO_']),
          MINIO_ROOT_USER: S3_ACCESS_KEY_ID,
          MINIO_ROOT_PASSWORD: S3_SECRET_ACCESS_KEY,
          MINIO_SITE_REGION: S3_REGION,
          // Keep it offline and small: no update check, no web console, no call-home,
          // CI/CD mode caps the buffer pool at 256 MiB and lets it use the root disk.
          MINIO_UPDATE: 'off',
          MINIO_BROWSER: 'off',
          MINIO_CALLHOME_ENABLE: 'off',
          MINIO_CI_CD: 'on',
          MINIO_SCANNER_SPEED: 'slowest',
          HOME: dataDir, // MinIO writes ~/.minio (certs dir); keep it inside the temp dir
        },
        async isReady() {
          const { status, headers } = await probe(`${endpoint}/minio/health/ready`);
          if (status !== 200) return `health check answered ${status}`;
          // 200 with this header means the HTTP server is up but the object layer is not yet.
          if (headers['x-minio-server-status'] === 'offline') return 'object layer not initialised';
          return true;
        },
      };
    },
    timeoutMs,
  );
  return {
    kind: 'minio',
    endpoint: `http://${HOST}:${ports[0]}`,
    region: S3_REGION,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    forcePathStyle: true,
    pid: server.pid,
    stop: server.stop,
  };
}

/** fake-gcs-server with the in-memory backend (the filesystem backend cannot hold both `a` and `a/b`). */
export async function startGcsServer(options = {}) {
  const binary = goBinary('fake-gcs-server');
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const backend = options.backend ?? 'memory';
  const { server, ports } = await launchOnFreePorts(
    'fake-gcs-server',
    1,
    ([port], dataDir) => {
      const endpoint = `http://${HOST}:${port}`;
      const args = [
        '-scheme', 'http',
        '-host', HOST,
        '-port', String(port),
        '-backend', backend,
        // Requests are routed by Host; resumable-upload Location headers point at external-url.
        '-public-host', `${HOST}:${port}`,
        '-external-url', endpoint,
        '-log-level', debugOutputEnabled() ? 'info' : 'warn',
      ];
      if (backend === 'filesystem') args.push('-filesystem-root', path.join(dataDir, 'data'));
      return {
        command: binary,
        args,
        env: cleanEnv(['FAKE_GCS_']),
        async isReady() {
          const { status } = await probe(`${endpoint}/storage/v1/b?project=${GCS_PROJECT_ID}`);
          return status === 200 || `bucket list answered ${status}`;
        },
      };
    },
    timeoutMs,
  );
  return {
    endpoint: `http://${HOST}:${ports[0]}`,
    projectId: GCS_PROJECT_ID,
    pid: server.pid,
    stop: server.stop,
  };
}

/** Azurite's blob service only, with the well-known devstoreaccount1 account. */
export async function startAzurite(options = {}) {
  const main = azuriteBlobMain();
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const { server, ports } = await launchOnFreePorts(
    'azurite',
    1,
    ([port], dataDir) => {
      const args = [
        main,
        '--blobHost', HOST,
        '--blobPort', String(port),
        '--location', dataDir,
        // The SDK may speak a newer service version than this Azurite knows; the API is the same.
        '--skipApiVersionCheck',
        // Azurite sends usage telemetry to Microsoft unless told not to.
        '--disableTelemetry',
      ];
      // Strict by default: an unsupported header fails loudly instead of being silently ignored.
      if (options.loose) args.push('--loose');
      if (!debugOutputEnabled()) args.push('--silent');
      return {
        command: process.execPath,
        args,
        env: cleanEnv(['AZURITE_']),
        async isReady() {
          // Any HTTP answer means the listener is up; Azurite binds only after loading its metadata.
          const { status } = await probe(`http://${HOST}:${port}/${AZURITE_ACCOUNT_NAME}?comp=list`);
          return status > 0 || 'no status';
        },
      };
    },
    timeoutMs,
  );
  const blobEndpoint = `http://${HOST}:${ports[0]}/${AZURITE_ACCOUNT_NAME}`;
  return {
    blobEndpoint,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
      `AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    pid: server.pid,
    stop: server.stop,
  };
}

export const SERVER_NAMES = ['s3', 'gcs', 'azure'];

/** Starts a server by its short name: 's3', 'gcs' or 'azure'. */
export function startServer(name, options) {
  switch (name) {
    case 's3':
      return startS3Server(options);
    case 'gcs':
      return startGcsServer(options);
    case 'azure':
      return startAzurite(options);
    default:
      throw new TestServerError(`unknown test server ${JSON.stringify(name)}; known: ${SERVER_NAMES.join(', ')}`);
  }
}
