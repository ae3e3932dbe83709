import type {} from '@strata/test-servers/vitest-setup';
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, inject } from 'vitest';
import { AlreadyExistsError, urlToFs, type StorageOptions } from '@strata/fs-core';
import { modelCheckpointCases } from '../checkpoint-cases.js';
import { exactResumeCases } from '../resume-cases.js';

const server = inject('s3');
const bucket = 'strata-trainer-tests';
const storageOptions: StorageOptions = {
  s3: {
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  },
};

beforeAll(async () => {
  const { fs } = await urlToFs(`s3://${bucket}`, storageOptions);
  try {
    await fs.mkdir(`s3://${bucket}`);
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
  } finally {
    await fs.close();
  }
});

const context = { root: async () => `s3://${bucket}/run-${randomUUID()}`, storageOptions };

describe(`exact resume on S3 (${server.kind})`, () => {
  exactResumeCases(context);
});

describe(`ModelCheckpoint on S3 (${server.kind}): top-k, 'last', 'best'`, () => {
  modelCheckpointCases(context);
});
