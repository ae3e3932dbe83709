// Child-side measurement: wall time and resident memory of one measured phase.
//
// Peak RSS comes from the kernel's high-water mark of THIS process. On Linux we reset it to the
// current RSS right before the phase (writing "5" to /proc/self/clear_refs), so the peak is the
// phase's own. getrusage's ru_maxrss is not enough on its own: a child that was forked from a big
// parent inherits the parent's RSS in it (the kernel keeps the pre-exec high-water mark), and it
// can never be lowered. Elsewhere we fall back to process.resourceUsage().maxRSS.
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface PhaseResult {
  name: string;
  ms: number;
  /** Payload bytes moved by the phase (for throughput). */
  bytes?: number | undefined;
  /** Operations done by the phase (objects, calls, steps). */
  items?: number | undefined;
  /** Peak resident set size during the phase, bytes. */
  peakRss: number;
  /** Resident set size when the phase started, bytes. */
  rssStart: number;
  /** peakRss − rssStart − outputBytes: memory the phase needed beyond what it returns. */
  rssGrowth: number;
  /** Extra figures a phase reports (bytes read from the server, requests...). */
  extra?: Record<string, number | string> | undefined;
}

export interface PhaseOutcome {
  bytes?: number | undefined;
  items?: number | undefined;
  /** Bytes of the phase's result that must stay in memory (a loaded checkpoint); not counted as growth. */
  outputBytes?: number | undefined;
  extra?: Record<string, number | string> | undefined;
}

const PROC_STATUS = '/proc/self/status';
let canResetPeak: boolean | undefined;

function statusField(field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(PROC_STATUS, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak-RSS mark to the current RSS; false where the platform cannot. */
export function resetPeakRss(): boolean {
  if (canResetPeak === false) return false;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    canResetPeak = true;
  } catch {
    canResetPeak = false;
  }
  return canResetPeak;
}

export function currentRss(): number {
  return statusField('VmRSS') ?? process.memoryUsage.rss();
}

export function peakRss(): number {
  return statusField('VmHWM') ?? process.resourceUsage().maxRSS * 1024;
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times: fixed at 100 by the kernel's ABI. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, all threads) of the test server the scenario uses, in ms, or undefined
 * when there is none (BENCH_SERVER_PID unset) or it cannot be read. The server shares the machine's
 * cores with the contender, so its CPU is part of what a phase costs.
 */
export function serverCpuMs(): number | undefined {
  const pid = process.env.BENCH_SERVER_PID;
  if (!pid) return undefined;
  try {
    // Fields after "pid (comm) ": state is the 1st, utime the 12th and stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * Adds each phase's `coresBusy`: the contender's and the server's CPU time over the wall time, how
 * many of the machine's cores the two kept busy together (near the core count: CPU-bound).
 */
export function addCoresBusy(phases: PhaseResult[]): void {
  for (const phase of phases) {
    const { cpuMs, serverCpuMs } = phase.extra ?? {};
    if (typeof cpuMs === 'number' && typeof serverCpuMs === 'number' && phase.ms > 0) phase.extra!.coresBusy = (cpuMs + serverCpuMs) / phase.ms;
  }
}

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

/** Runs `fn` as one measured phase. Setup belongs before, verification after. */
export async function measurePhase(name: string, fn: () => Promise<PhaseOutcome | void>): Promise<PhaseResult> {
  collectGarbage();
  resetPeakRss();
  const rssStart = currentRss();
  const serverBefore = serverCpuMs();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const outcome = (await fn()) ?? {};
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const serverAfter = serverCpuMs();
  const peak = Math.max(peakRss(), rssStart);
  return {
    name,
    ms,
    bytes: outcome.bytes,
    items: outcome.items,
    peakRss: peak,
    rssStart,
    rssGrowth: Math.max(0, peak - rssStart - (outcome.outputBytes ?? 0)),
    // CPU time of the whole process (all threads): shows work hidden in worker threads or libuv.
    extra: {
      ...outcome.extra,
      cpuMs: (cpu.user + cpu.system) / 1000,
      ...(serverBefore !== undefined && serverAfter !== undefined ? { serverCpuMs: serverAfter - serverBefore } : {}),
    },
  };
}
