import { afterEach, describe, expect, it } from 'vitest';

import { addCoresBusy, measurePhase, serverCpuMs, type PhaseResult } from '../src/lib/measure.js';

const serverPid = process.env.BENCH_SERVER_PID;
afterEach(() => {
  if (serverPid === undefined) delete process.env.BENCH_SERVER_PID;
  else process.env.BENCH_SERVER_PID = serverPid;
});

/** Keeps this thread busy for about `ms`. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  expect(x).toBeGreaterThan(0);
}

describe("the server's CPU time", () => {
  it('is read from /proc/<pid>/stat of BENCH_SERVER_PID and grows with the work that process does', () => {
    // This process stands in for the server.
    process.env.BENCH_SERVER_PID = String(process.pid);
    const before = serverCpuMs();
    spin(300);
    const after = serverCpuMs();
    expect(before).toBeTypeOf('number');
    // 10 ms ticks: 300 ms of spinning shows as at least 200 ms.
    expect(after! - before!).toBeGreaterThanOrEqual(200);
  });

  it('is undefined without a server pid, or for a process that is gone', () => {
    delete process.env.BENCH_SERVER_PID;
    expect(serverCpuMs()).toBeUndefined();
    process.env.BENCH_SERVER_PID = '999999999';
    expect(serverCpuMs()).toBeUndefined();
  });

  it('is recorded in a measured phase beside the contender’s own CPU, and left out when there is no server', async () => {
    process.env.BENCH_SERVER_PID = String(process.pid);
    const phase = await measurePhase('spin', async () => spin(200));
    expect(phase.extra!.serverCpuMs).toBeGreaterThanOrEqual(100);
    expect(phase.extra!.cpuMs).toBeGreaterThanOrEqual(100);
    delete process.env.BENCH_SERVER_PID;
    expect((await measurePhase('spin', async () => spin(10))).extra).not.toHaveProperty('serverCpuMs');
  });
});

describe('cores busy', () => {
  const phase = (ms: number, extra: PhaseResult['extra']): PhaseResult => ({ name: 'p', ms, peakRss: 0, rssStart: 0, rssGrowth: 0, extra });

  it('is the contender’s and the server’s CPU over the wall time, only where both were measured', () => {
    const phases = [phase(2000, { cpuMs: 1500, serverCpuMs: 2300 }), phase(1000, { cpuMs: 900 }), phase(0, { cpuMs: 0, serverCpuMs: 0 })];
    addCoresBusy(phases);
    expect(phases[0]!.extra!.coresBusy).toBeCloseTo(1.9);
    expect(phases[1]!.extra).not.toHaveProperty('coresBusy');
    expect(phases[2]!.extra).not.toHaveProperty('coresBusy');
  });
});
