import { InvalidPathError } from '@strata/fs-core';
import { describe, expect, test } from 'vitest';
import { resolveConnection } from '../src/connection.js';

const KEY = Buffer.from('not-a-real-account-key').toString('base64');
const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1`;

describe('resolveConnection', () => {
  test('an account named by the caller or the URL that the credentials do not serve is refused', () => {
    expect(() => resolveConnection({ connectionString, accountName: 'otheraccount' }, 'abfs', {})).toThrow(InvalidPathError);
  });

  test('the same account (any case) is served, with an agent of its own that close() can destroy', () => {
    const connection = resolveConnection({ connectionString, accountName: 'DevStoreAccount1' }, 'abfs', {});
    expect(connection.accountName).toBe('devstoreaccount1');
    expect(connection.agent).toBeDefined();
    connection.agent?.destroy();
  });
});
