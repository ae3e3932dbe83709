// The benchmark runner: `npm run bench` (full) or `npm run bench -- --quick` (CI smoke run).
//
// Options: --quick, --only=1,3a,5 (scenario ids or prefixes), --runs=N, --warmups=N,
// --profile=<contender> (node --cpu-prof into results/profiles/), --list.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { ensureBuilt, type StrataPackage } from './lib/build.js';
import { checkpointLayout } from './lib/data.js';
import { describeMachine } from './lib/machine.js';
import { addCoresBusy, type PhaseResult } from './lib/measure.js';
import { benchDir, resultsDir } from './lib/paths.js';
import { ensureVenv, pythonVersions } from './lib/python.js';
import { addRatios, evaluateTargets, renderMarkdown, type BenchResults, type ContenderResult, type ScenarioResult } from './lib/report.js';
import { BUCKET, Servers, type ServerInfos } from './lib/servers.js';
import { summarizePhase, withTotal } from './lib/stats.js';
import { FULL, QUICK, TUNING, buildScenarios, type Contender, type Scenario, type Sizes } from './scenarios.js';
import type { TaskOutput } from './tasks/common.js';

interface Args {
  quick: boolean;
  only: string[];
  runs?: number | undefined;
  warmups?: number | undefined;
  profile?: string | undefined;
  /** Base name of the result files (default latest, quick or partial). */
  out?: string | undefined;
  list: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: [], list: false };
  for (const arg of argv) {
    const [flag, value] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '--quick') args.quick = true;
    else if (flag === '--only' && value) args.only = value.split(',').filter(Boolean);
    else if (flag === '--runs' && value) args.runs = Number(value);
    else if (flag === '--warmups' && value) args.warmups = Number(value);
    else if (flag === '--profile' && value) args.profile = value;
    else if (flag === '--out' && value && /^[a-z0-9-]+$/.test(value)) args.out = value;
    else if (flag === '--list') args.list = true;
    else throw new Error(`unknown argument ${arg} (use --quick, --only=ids, --runs=N, --warmups=N, --profile=contender, --out=name, --list)`);
  }
  return args;
}

const started = performance.now();
function log(line: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t}s] ${line}\n`);
}

const RESULT_PREFIX = 'BENCH_RESULT ';
/** Contender processes running now, killed if the runner is interrupted. */
const runningChildren = new Set<import('node:child_process').ChildProcess>();
let interrupted = false;

/** Child environment: no cloud credentials or metadata lookups from the parent environment. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|GOOGLE_|GCLOUD_|CLOUDSDK_|AZURE_|STORAGE_EMULATOR_HOST$)/.test(k)) continue;
    env[k] = v;
  }
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    METADATA_SERVER_DETECTION: 'none',
    NO_GCE_CHECK: 'true',
    // gcsfs would otherwise probe every bucket over gRPC (hierarchical-namespace check), which the
    // emulator does not serve: a 60 s timeout per bucket.
    GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT: 'false',
    PYTHONUNBUFFERED: '1',
  };
}

interface RunOptions {
  timeoutMs: number;
  python?: string | undefined;
  profileDir?: string | undefined;
  /** The scenario's test server, whose CPU time the worker records beside its own. */
  serverPid?: number | undefined;
}

/** Spawns one contender run and returns its output or throws with the child's stderr. */
function runChild(contender: Contender, params: Record<string, unknown>, options: RunOptions): Promise<TaskOutput> {
  const request = JSON.stringify({ module: contender.module, task: contender.task, params });
  let command: string;
  let args: string[];
  if (contender.runtime === 'python') {
    if (!options.python) return Promise.reject(new Error('the Python venv is unavailable'));
    command = options.python;
    args = [path.join(benchDir, 'py', 'worker.py')];
  } else {
    command = process.execPath;
    args = ['--expose-gc'];
    if (options.profileDir) args.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, '--heap-prof', `--heap-prof-dir=${options.profileDir}`);
    args.push(path.join(benchDir, 'dist', 'worker.js'));
  }
  return new Promise((resolve, reject) => {
    if (interrupted) {
      reject(new Error('interrupted'));
      return;
    }
    const env = { ...childEnv(), BENCH_TASK: request, ...(options.serverPid ? { BENCH_SERVER_PID: String(options.serverPid) } : {}) };
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    runningChildren.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      runningChildren.delete(child);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) {
        const output = JSON.parse(line.slice(RESULT_PREFIX.length)) as TaskOutput;
        addCoresBusy(output.phases);
        resolve(output);
        return;
      }
      const why = signal === 'SIGKILL' ? `timed out after ${options.timeoutMs / 1000} s` : `exit ${code ?? signal}`;
      const tail = stderr.trim().split('\n').slice(-6).join(' ⏎ ');
      reject(new Error(`${why}: ${tail || 'no output'}`));
    });
  });
}

/* ------------------------------ store options ------------------------------ */

function storeParams(scenario: Scenario, servers: ServerInfos): Record<string, unknown> {
  switch (scenario.store) {
    case undefined:
      return {};
    case 's3': {
      const s = servers.s3!;
      return {
        bucket: BUCKET,
        store: { ...s, kind: 's3', concurrency: TUNING.concurrency, uploadConcurrency: TUNING.uploadConcurrency },
        storageOptions: {
          s3: {
            endpoint: s.endpoint,
            region: s.region,
            forcePathStyle: true,
            credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
            partSize: TUNING.partSize,
            uploadConcurrency: TUNING.uploadConcurrency,
            concurrency: TUNING.concurrency,
          },
        },
        urlBase: `s3://${BUCKET}`,
      };
    }
    case 'gcs': {
      const s = servers.gcs!;
      return {
        bucket: BUCKET,
        store: { kind: 'gcs', ...s, concurrency: TUNING.concurrency },
        storageOptions: { gs: { apiEndpoint: s.endpoint, projectId: s.projectId, chunkSize: TUNING.partSize, concurrency: TUNING.concurrency } },
        urlBase: `gs://${BUCKET}`,
      };
    }
    case 'azure': {
      const s = servers.azure!;
      return {
        bucket: BUCKET,
        store: { kind: 'azure', ...s, concurrency: TUNING.concurrency, uploadConcurrency: TUNING.uploadConcurrency },
        storageOptions: {
          az: { connectionString: s.connectionString, blockSize: TUNING.partSize, uploadConcurrency: TUNING.uploadConcurrency, concurrency: TUNING.concurrency },
        },
        urlBase: `az://${BUCKET}`,
      };
    }
  }
}

/** Task parameters: scenario params, contender params, store details, URLs derived from keys. */
function paramsFor(scenario: Scenario, contender: Contender, servers: ServerInfos, extra?: Record<string, unknown>): Record<string, unknown> {
  const params: Record<string, unknown> = { ...scenario.params, ...storeParams(scenario, servers), ...contender.params, ...extra };
  if (scenario.store) {
    if (typeof params.key === 'string') params.url = `${params.urlBase as string}/${params.key}`;
    if (typeof params.prefix === 'string') params.urlPrefix = `${params.urlBase as string}/${params.prefix}`;
  }
  if (contender.runtime === 'python' && params.scale !== undefined) {
    // The Python worker gets the layout itself rather than a second implementation of it.
    params.specs = checkpointLayout(params.scale as number);
  }
  return params;
}

/* ------------------------------ scenarios ------------------------------ */

interface RunContext {
  args: Args;
  sizes: Sizes;
  servers: Servers;
  unavailable: Map<StrataPackage, string>;
  python?: string | undefined;
  pythonProblem?: string | undefined;
  ci: boolean;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function runScenario(scenario: Scenario, ctx: RunContext): Promise<{ result: ScenarioResult; fatal: string[] }> {
  const { sizes } = ctx;
  const result: ScenarioResult = {
    id: scenario.id,
    title: scenario.title,
    what: scenario.what,
    baseline: scenario.baseline,
    status: 'ran',
    runs: ctx.args.runs ?? sizes.runs,
    warmups: ctx.args.warmups ?? sizes.warmups,
    contenders: [],
    targets: [],
    notes: [...scenario.notes],
  };
  const fatal: string[] = [];
  const missing = scenario.packages.map((p) => ctx.unavailable.get(p)).filter((r): r is string => r !== undefined);
  if (missing.length > 0) return { result: { ...result, status: 'skipped', reason: missing.join('; ') }, fatal };
  if (scenario.store) {
    try {
      if (scenario.freshServer) await ctx.servers.restart(scenario.store);
      else await ctx.servers.ensure(scenario.store);
    } catch (error) {
      const reason = (error as Error).message;
      if (ctx.ci) fatal.push(`${scenario.id}: ${reason}`);
      return { result: { ...result, status: 'skipped', reason }, fatal };
    }
  }
  const timeoutMs = ctx.args.quick ? 120_000 : 900_000;
  const profileDir = (c: Contender) => (ctx.args.profile === c.id && c.runtime === 'node' ? path.join(resultsDir, 'profiles', `${scenario.id}-${c.id}`) : undefined);
  if (scenario.prepare) {
    const prep: Contender = { id: 'prepare', label: 'prepare', runtime: 'node', module: scenario.prepare.module, task: scenario.prepare.task, params: scenario.prepare.params ?? {} };
    try {
      await runChild(prep, paramsFor(scenario, prep, ctx.servers.info), { timeoutMs });
    } catch (error) {
      const reason = `preparing the scenario failed: ${(error as Error).message}`;
      fatal.push(`${scenario.id}: ${reason}`);
      return { result: { ...result, status: 'failed', reason }, fatal };
    }
  }
  const samples = new Map<string, PhaseResult[][]>();
  const errors = new Map<string, string[]>();
  const loadBefore = os.loadavg()[0]!;
  const rounds = result.warmups + result.runs;
  for (let round = 0; round < rounds; round++) {
    const counted = round >= result.warmups;
    for (const contender of rotate(scenario.contenders, round)) {
      if (interrupted) break;
      if (contender.runtime === 'python' && !ctx.python) {
        errors.set(contender.id, [`Python venv unavailable: ${ctx.pythonProblem ?? ''}`]);
        continue;
      }
      // A contender that failed its first try is not retried every round.
      if ((errors.get(contender.id)?.length ?? 0) >= 2) continue;
      const t0 = performance.now();
      try {
        const output = await runChild(contender, paramsFor(scenario, contender, ctx.servers.info), {
          timeoutMs,
          python: ctx.python,
          profileDir: profileDir(contender),
          serverPid: scenario.store ? ctx.servers.info[scenario.store]?.pid : undefined,
        });
        if (counted) samples.set(contender.id, [...(samples.get(contender.id) ?? []), output.phases]);
        const summary = output.phases.map((p) => `${p.name} ${p.ms.toFixed(0)} ms`).join(', ');
        log(`  ${scenario.id} ${counted ? `run ${round - result.warmups + 1}/${result.runs}` : 'warm-up'} ${contender.id}: ${summary} (process ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        const message = (error as Error).message;
        errors.set(contender.id, [...(errors.get(contender.id) ?? []), message]);
        log(`  ${scenario.id} ${contender.id} FAILED: ${message}`);
      }
    }
  }
  result.loadAverage = { before: loadBefore, after: os.loadavg()[0]! };
  for (const contender of scenario.contenders) {
    const runs = withTotal(samples.get(contender.id) ?? []);
    const phaseNames = runs[0]?.map((p) => p.name) ?? [];
    const contenderErrors = errors.get(contender.id) ?? [];
    const entry: ContenderResult = {
      id: contender.id,
      label: contender.label,
      runtime: contender.runtime,
      optional: contender.optional ?? false,
      phases: phaseNames.map((name) => summarizePhase(name, runs.map((r) => r.find((p) => p.name === name)!).filter(Boolean))),
      errors: contenderErrors,
    };
    result.contenders.push(entry);
    if (contenderErrors.length > 0 && !entry.optional) fatal.push(`${scenario.id} ${contender.id}: ${contenderErrors[0]}`);
  }
  addRatios(result);
  result.targets = evaluateTargets(scenario.targets, result.contenders);
  return { result, fatal };
}

function selected(scenarios: Scenario[], only: string[]): Scenario[] {
  if (only.length === 0) return scenarios;
  return scenarios.filter((s) => only.some((o) => s.id === o || s.id.startsWith(o)));
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const sizes = args.quick ? QUICK : FULL;
  const ci = /^(1|true|yes)$/i.test(process.env.CI ?? '');
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'strata-bench-'));
  const scenarios = selected(buildScenarios(sizes, tmpDir), args.only);
  if (args.list) {
    for (const s of buildScenarios(sizes, tmpDir)) console.log(`${s.id.padEnd(10)} ${s.title} — ${s.contenders.map((c) => c.id).join(', ')}`);
    rmSync(tmpDir, { recursive: true, force: true });
    return 0;
  }
  if (scenarios.length === 0) throw new Error(`no scenario matches --only=${args.only.join(',')}`);
  const machine = describeMachine();
  log(`${args.quick ? 'quick' : 'full'} run: ${scenarios.map((s) => s.id).join(' ')}; ${machine.cores} cores, load ${machine.loadAverageStart.toFixed(2)}`);
  const servers = new Servers();
  const cleanup = async () => {
    await servers.stopAll();
    rmSync(tmpDir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping contenders and servers`);
      interrupted = true;
      for (const child of runningChildren) child.kill('SIGKILL');
      void cleanup().finally(() => process.exit(130));
    });
  }
  const ctx: RunContext = { args, sizes, servers, unavailable: ensureBuilt(log), ci };
  for (const [pkg, why] of ctx.unavailable) log(`unavailable: @strata/${pkg}: ${why}`);
  if (scenarios.some((s) => s.contenders.some((c) => c.runtime === 'python'))) {
    try {
      ctx.python = ensureVenv(log);
    } catch (error) {
      ctx.pythonProblem = (error as Error).message;
      log(`Python contenders unavailable: ${ctx.pythonProblem}`);
    }
  }
  const results: ScenarioResult[] = [];
  const fatal: string[] = [];
  const versions = ctx.python ? pythonVersions(ctx.python) : {};
  // A partial run (--only, --runs) must not replace the committed full results.
  const partial = args.only.length > 0 || args.runs !== undefined || args.warmups !== undefined;
  const base = args.out ?? (args.quick ? 'quick' : partial ? 'partial' : 'latest');
  mkdirSync(resultsDir, { recursive: true });
  /** Written after every scenario, so a run that is cut short still leaves what it measured. */
  const write = (finished: boolean) => {
    machine.loadAverageEnd = os.loadavg()[0]!;
    const output: BenchResults = {
      mode: args.quick ? 'quick' : 'full',
      complete: finished,
      machine,
      pythonVersions: versions,
      tuning: { ...TUNING },
      durationSeconds: (performance.now() - started) / 1000,
      scenarios: results,
    };
    writeFileSync(path.join(resultsDir, `${base}.json`), `${JSON.stringify(output, null, 2)}\n`);
    writeFileSync(path.join(resultsDir, `${base}.md`), renderMarkdown(output, scenarios));
  };
  try {
    for (const scenario of scenarios) {
      if (interrupted) break;
      log(`scenario ${scenario.id}: ${scenario.title}`);
      const { result, fatal: problems } = await runScenario(scenario, ctx);
      if (result.status !== 'ran') log(`  ${result.status}: ${result.reason}`);
      for (const t of result.targets) log(`  ${t.met === undefined ? '?' : t.met ? 'MET' : 'MISSED'} ${t.text}: ${t.value === undefined ? t.why : t.value.toFixed(3)}`);
      results.push(result);
      fatal.push(...problems);
      write(false);
    }
  } finally {
    await cleanup();
  }
  write(true);
  log(`wrote bench/results/${base}.json and ${base}.md`);
  const met = results.flatMap((r) => r.targets).filter((t) => t.met).length;
  const missed = results.flatMap((r) => r.targets).filter((t) => t.met === false).length;
  log(`targets: ${met} met, ${missed} missed${args.quick ? ' (quick sizes: indicative only)' : ''}; ${results.filter((r) => r.status === 'skipped').length} scenarios skipped`);
  if (fatal.length > 0) {
    for (const f of fatal) log(`HARNESS FAILURE: ${f}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
