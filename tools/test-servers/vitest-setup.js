// vitest globalSetup: starts the servers a package's tests need and hands their connection details to
// the tests through provide/inject. Select servers with env STRATA_TEST_SERVERS=s3,gcs,azure, or with
// `test.provide: { testServers: 's3,gcs' }` in the vitest config; default all three.
import process from 'node:process';

import { SERVER_NAMES, startServer } from './index.js';

function requestedServers(project) {
  const fromEnv = process.env.STRATA_TEST_SERVERS;
  const fromConfig = project.getProvidedContext?.().testServers;
  const raw = fromEnv ?? (Array.isArray(fromConfig) ? fromConfig.join(',') : fromConfig) ?? SERVER_NAMES.join(',');
  const names = [...new Set(String(raw).split(',').map((name) => name.trim()).filter(Boolean))];
  const unknown = names.filter((name) => !SERVER_NAMES.includes(name));
  if (unknown.length > 0) {
    throw new Error(`STRATA_TEST_SERVERS names unknown server(s) ${unknown.join(', ')}; known: ${SERVER_NAMES.join(', ')}`);
  }
  return names;
}

/** Plain data only: provide() structured-clones the value, so stop() stays here. */
function connectionInfo(server) {
  const { stop: _stop, ...info } = server;
  return info;
}

export default async function setup(project) {
  const names = requestedServers(project);
  const results = await Promise.allSettled(names.map((name) => startServer(name)));
  const started = results.filter((result) => result.status === 'fulfilled').map((result) => result.value);
  const stopAll = () => Promise.all(started.map((server) => server.stop()));
  const failures = results.filter((result) => result.status === 'rejected').map((result) => result.reason);
  if (failures.length > 0) {
    await stopAll();
    if (failures.length === 1) throw failures[0];
    throw new AggregateError(failures, `could not start test servers: ${failures.map((error) => error.message).join('; ')}`);
  }
  names.forEach((name, index) => project.provide(name, connectionInfo(results[index].value)));
  return async () => {
    await stopAll();
  };
}
