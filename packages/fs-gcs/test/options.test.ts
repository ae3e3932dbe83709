import { describe, expect, it } from 'vitest';

import { redact, sanitizeCause, toFsError } from '../src/errors.js';
import { normalizeEndpoint, resolveEndpoint } from '../src/options.js';

describe('endpoint resolution', () => {
  it('apiEndpoint wins over STORAGE_EMULATOR_HOST; /storage/v1 and trailing slashes are dropped', () => {
    const env = { STORAGE_EMULATOR_HOST: 'http://127.0.0.1:1/storage/v1' };
    expect(resolveEndpoint({ apiEndpoint: 'http://127.0.0.1:2/' }, env)).toBe('http://127.0.0.1:2');
    expect(resolveEndpoint({}, env)).toBe('http://127.0.0.1:1');
    expect(resolveEndpoint({}, {})).toBeUndefined();
  });

  it('a scheme-less STORAGE_EMULATOR_HOST means http (emulators), a scheme-less apiEndpoint https (as the SDK)', () => {
    expect(resolveEndpoint({}, { STORAGE_EMULATOR_HOST: 'localhost:4443' })).toBe('http://localhost:4443');
    expect(resolveEndpoint({ apiEndpoint: 'storage.example.com' }, {})).toBe('https://storage.example.com');
    expect(normalizeEndpoint('https://private.googleapis.com/storage/v1/', 'https')).toBe('https://private.googleapis.com');
  });
});

describe('error text', () => {
  it('redacts session ids, signatures, bearer tokens and PEM keys', () => {
    const text = redact(
      'x?upload_id=AAA&X-Goog-Signature=BBB Bearer ya29.CCC -----BEGIN PRIVATE KEY-----\nDDD\n-----END PRIVATE KEY----- access_token=EEE',
    );
    expect(text).not.toMatch(/AAA|BBB|CCC|DDD|EEE/);
  });

  it('a thrown string keeps its text in the cause; a thrown non-Error object says nothing rather than "[object Object]"', () => {
    expect((sanitizeCause('socket hang up') as Error).message).toBe('socket hang up');
    expect((sanitizeCause({ reason: 'x' }) as Error).message).toBe('');
  });

  it('an SDK error without a status but with a credentials failure is PermissionDeniedError', () => {
    const error = toFsError(new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication'), {
      protocol: 'gs',
      path: 'b/k',
    });
    expect(error.code).toBe('EACCES');
    expect(error.message).toContain('gs://b/k');
  });
});
