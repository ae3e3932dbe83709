// Compile-time check (npm run typecheck) that the published declarations fit how the packages use them.
import { inject } from 'vitest';
import type {} from '@strata/test-servers/vitest-setup';
import setup from '@strata/test-servers/vitest-setup';
import { pythonPath, startAzurite, startGcsServer, startS3Server, startServer } from '@strata/test-servers';
import type { AzuriteInfo, GcsServerInfo, S3ServerInfo } from '@strata/test-servers';

export function injectedTypes(): [S3ServerInfo, GcsServerInfo, AzuriteInfo] {
  const s3 = inject('s3');
  const endpoint: string = s3.endpoint;
  const kind: 'minio' | 'moto' = s3.kind;
  const gcs = inject('gcs');
  const azure = inject('azure');
  const connectionString: string = azure.connectionString;
  void [endpoint, kind, connectionString];
  return [s3, gcs, azure];
}

export async function startedTypes(): Promise<string[]> {
  const s3 = await startS3Server({ startTimeoutMs: 30_000 });
  const gcs = await startGcsServer({ backend: 'memory' });
  const azure = await startAzurite({ loose: false });
  const byName = await startServer('gcs');
  await Promise.all([s3.stop(), gcs.stop(), azure.stop(), byName.stop()]);
  const teardown: () => Promise<void> = await setup(undefined as never);
  void teardown;
  return [s3.secretAccessKey, gcs.projectId, azure.blobEndpoint, byName.endpoint, pythonPath()];
}
