// One contender run in its own process: `BENCH_TASK={"module","task","params"} node dist/worker.js`.
// Prints one line `BENCH_RESULT <json>` on stdout; anything else on stdout/stderr is diagnostics.
import type { Task, TaskOutput } from './tasks/common.js';

interface TaskRequest {
  module: string;
  task: string;
  params: Record<string, unknown>;
}

const RESULT_PREFIX = 'BENCH_RESULT ';

async function main(): Promise<void> {
  const raw = process.env.BENCH_TASK;
  if (!raw) throw new Error('BENCH_TASK is not set');
  const request = JSON.parse(raw) as TaskRequest;
  if (!/^[a-z0-9-]+$/.test(request.module)) throw new Error(`bad task module ${request.module}`);
  const mod = (await import(`./tasks/${request.module}.js`)) as { tasks: Record<string, Task> };
  const task = mod.tasks[request.task];
  if (!task) throw new Error(`unknown task ${request.module}/${request.task}`);
  const output: TaskOutput = await task(request.params);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(output)}\n`);
}

main().then(
  // Open sockets (SDK keep-alive agents) must not keep a finished run alive.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
