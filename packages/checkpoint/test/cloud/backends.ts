import type {} from '@strata/test-servers/vitest-setup';
import { filesystem, type FileSystem, type StorageOptions } from '@strata/fs-core';
import { inject } from 'vitest';

export interface CloudBackend {
  name: 's3' | 'gcs' | 'azure';
  /** The backend package the registry loads for this protocol. */
  module: string;
  protocol: string;
  storageOptions(): StorageOptions;
}

export const CLOUD_BACKENDS: CloudBackend[] = [
  {
    name: 's3',
    module: '@strata/fs-s3',
    protocol: 's3',
    storageOptions: () => {
      const s3 = inject('s3');
      return {
        s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
      };
    },
  },
  {
    name: 'gcs',
    module: '@strata/fs-gcs',
    protocol: 'gs',
    storageOptions: () => {
      const gcs = inject('gcs');
      return { gs: { apiEndpoint: gcs.endpoint, projectId: gcs.projectId } };
    },
  },
  {
    name: 'azure',
    module: '@strata/fs-azure',
    protocol: 'az',
    storageOptions: () => ({ az: { connectionString: inject('azure').connectionString } }),
  },
];

/**
 * Whether the backend package can be loaded. Outside CI a backend that is not built yet is
 * skipped; in CI its absence fails the run.
 */
export async function backendInstalled(backend: CloudBackend): Promise<boolean> {
  try {
    await import(backend.module);
    return true;
  } catch (error) {
    if (process.env.CI) throw error;
    return false;
  }
}

/** A fresh bucket (container) on the backend's test server, and a filesystem for it. */
export async function freshBucket(backend: CloudBackend): Promise<{ fs: FileSystem; bucket: string; url: (key: string) => string }> {
  const options = backend.storageOptions()[backend.protocol] as object;
  const fs = await filesystem(backend.protocol, options);
  const bucket = `ckpt-${backend.name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await fs.mkdir(bucket);
  return { fs, bucket, url: (key) => `${backend.protocol}://${bucket}/${key}` };
}
