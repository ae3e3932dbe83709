import type { TestProject } from 'vitest/node';

import type { AzuriteInfo, GcsServerInfo, S3ServerInfo, ServerName } from './index.js';

/**
 * vitest globalSetup. In a package's vitest config:
 *   test: { globalSetup: ['@strata/test-servers/vitest-setup'], provide: { testServers: 's3' } }
 * and in tests: `import type {} from '@strata/test-servers/vitest-setup'` once (for the types), then
 * `inject('s3')`. Env STRATA_TEST_SERVERS=s3,gcs,azure overrides `testServers`; default all three.
 */
export default function setup(project: TestProject): Promise<() => Promise<void>>;

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection details of MinIO; present when 's3' was selected. */
    s3: S3ServerInfo;
    /** Connection details of fake-gcs-server; present when 'gcs' was selected. */
    gcs: GcsServerInfo;
    /** Connection details of Azurite; present when 'azure' was selected. */
    azure: AzuriteInfo;
    /** Which servers the globalSetup starts: 's3,gcs,azure' or an array of names. */
    testServers: string | ServerName[];
  }
}
