import { RestError } from '@azure/storage-blob';
import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  InvalidPathError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  retryableNetworkCodes,
  type FsError,
} from '@strata/fs-core';
import { describe, expect, test } from 'vitest';
import { sanitize, toFsError } from '../src/errors.js';

const SAS = 'sv=2024-08-04&se=2030-01-01&sr=b&sp=r&sig=c2VjcmV0c2lnbmF0dXJlMTIz%3D';

/** A RestError shaped like the ones the SDK throws for a failed request (only what the mapping reads). */
function restError(status: number | undefined, errorCode?: string, message = 'Service said no', headers: Record<string, string> = {}) {
  const all = new Map(Object.entries({ ...(errorCode ? { 'x-ms-error-code': errorCode } : {}), ...headers }));
  const response = status === undefined ? undefined : { status, headers: { get: (name: string) => all.get(name.toLowerCase()) } };
  const error = new RestError(message, {
    statusCode: status,
    response: response as never,
    code: status === undefined ? 'REQUEST_SEND_ERROR' : undefined,
  });
  if (errorCode) (error as RestError & { details?: unknown }).details = { errorCode };
  return error;
}

const ctx = { protocol: 'az', path: 'c/b.txt', container: 'c' };

describe('toFsError', () => {
  const cases: [string, unknown, object, new (...args: never[]) => FsError, boolean][] = [
    ['BlobNotFound', restError(404, 'BlobNotFound'), {}, NotFoundError, false],
    ['404 without a body (HEAD)', restError(404), {}, NotFoundError, false],
    ['AuthorizationFailure', restError(403, 'AuthorizationFailure'), {}, PermissionDeniedError, false],
    ['AuthenticationFailed', restError(403, 'AuthenticationFailed'), {}, PermissionDeniedError, false],
    ['401', restError(401), {}, PermissionDeniedError, false],
    ['BlobAlreadyExists', restError(409, 'BlobAlreadyExists'), {}, AlreadyExistsError, false],
    ['412 on create', restError(412, 'ConditionNotMet'), { create: true }, AlreadyExistsError, false],
    ['409 on create', restError(409, 'SomethingElse'), { create: true }, AlreadyExistsError, false],
    ['412 on a pinned read', restError(412, 'ConditionNotMet'), { pinned: true }, ConflictError, false],
    ['InvalidBlockList', restError(400, 'InvalidBlockList'), {}, ConflictError, false],
    ['503 ServerBusy', restError(503, 'ServerBusy'), {}, StorageError, true],
    ['500', restError(500, 'InternalError'), {}, StorageError, true],
    ['429', restError(429), {}, StorageError, true],
    ['network failure', restError(undefined), {}, StorageError, true],
    ['ECONNRESET', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), {}, StorageError, true],
    ...['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED'].map(
      (code): [string, unknown, object, new (...args: never[]) => FsError, boolean] => [`undici ${code} (signed path)`, Object.assign(new Error(code), { code }), {}, StorageError, true],
    ),
    ...[...retryableNetworkCodes].map(
      (code): [string, unknown, object, new (...args: never[]) => FsError, boolean] => [`shared network code ${code}`, Object.assign(new Error(`connect ${code}`), { code }), {}, StorageError, true],
    ),
    ['ENOTFOUND (wrong account name)', Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), {}, StorageError, false],
    ['400 InvalidHeaderValue', restError(400, 'InvalidHeaderValue'), {}, StorageError, false],
    ['400 Md5Mismatch (the body changed on the way)', restError(400, 'Md5Mismatch'), {}, StorageError, true],
    ['AbortError after the caller aborted', Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }), { signal: AbortSignal.abort() }, AbortError, false],
    ['AbortError nobody asked for (connection closed mid-body)', Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }), { signal: new AbortController().signal }, StorageError, true],
    ['PARSE_ERROR of a listing cut short', new RestError('Error reading response as text: aborted', { code: 'PARSE_ERROR' }), {}, StorageError, true],
    ['PARSE_ERROR after the caller aborted', new RestError('Error reading response as text: aborted', { code: 'PARSE_ERROR' }), { signal: AbortSignal.abort() }, StorageError, false],
    ['400 InvalidResourceName', restError(400, 'InvalidResourceName'), {}, InvalidPathError, false],
    ['400 OutOfRangeInput', restError(400, 'OutOfRangeInput'), {}, InvalidPathError, false],
    ['identity failure', Object.assign(new Error('No credential'), { name: 'CredentialUnavailableError' }), {}, PermissionDeniedError, false],
  ];
  test.each(cases)('%s', (_name, error, extra, type, retryable) => {
    const mapped = toFsError(error, { ...ctx, ...extra });
    expect(mapped).toBeInstanceOf(type);
    expect(mapped.retryable).toBe(retryable);
    expect(mapped.path).toBe('c/b.txt');
    expect(mapped.protocol).toBe('az');
    expect((mapped.cause as Error).name).toBe((error as Error).name);
    expect(mapped.message).toContain('c/b.txt');
  });

  test('the cause keeps status and code but not the request (SAS URL, SharedKey signature)', () => {
    const error = restError(403, 'AuthorizationFailure', `Denied for https://a.blob.core.windows.net/c/b.txt?${SAS}`);
    Object.defineProperty(error, 'request', {
      enumerable: false,
      value: { url: `https://a.blob.core.windows.net/c/b.txt?${SAS}`, headers: { authorization: 'SharedKey a:c2lnbmF0dXJl' } },
    });
    const cause = toFsError(error, ctx).cause as Record<string, unknown>;
    expect(cause).not.toBe(error);
    expect(cause.statusCode).toBe(403);
    expect(cause.azureCode).toBe('AuthorizationFailure');
    expect(cause.request).toBeUndefined();
    expect(cause.response).toBeUndefined();
    expect(String(cause.message)).not.toContain('sig=c2Vj');
    expect(String(cause.stack)).not.toContain('sig=c2Vj');
  });

  test('ContainerNotFound names the container', () => {
    const mapped = toFsError(restError(404, 'ContainerNotFound'), ctx);
    expect(mapped).toBeInstanceOf(NotFoundError);
    expect(mapped.message).toBe('Container not found: az://c (while accessing az://c/b.txt)');
  });

  test('Retry-After becomes a hint for fs-core', () => {
    const mapped = toFsError(restError(503, 'ServerBusy', 'busy', { 'retry-after': '2' }), ctx);
    expect((mapped as FsError & { retryAfterMs?: number }).retryAfterMs).toBe(2000);
  });

  test('a thrown string keeps its text in the cause; a thrown non-Error object says nothing rather than "[object Object]"', () => {
    expect((toFsError('socket hang up', ctx).cause as Error).message).toBe('socket hang up');
    expect((toFsError({ reason: 'x' }, ctx).cause as Error).message).toBe('');
  });

  test('messages never carry SAS signatures or keys', () => {
    const mapped = toFsError(
      restError(400, 'CannotVerifyCopySource', `Copy source https://acct.blob.core.windows.net/c/b.txt?${SAS} failed with AccountKey=abc123==;`),
      { ...ctx, secrets: ['abc123=='] },
    );
    expect(mapped.message).not.toContain('c2VjcmV0c2lnbmF0dXJlMTIz');
    expect(mapped.message).not.toContain('abc123');
    expect(mapped.message).toContain('CannotVerifyCopySource');
  });
});

describe('sanitize', () => {
  test('redacts query strings, signatures, keys, shared-key headers, bearer tokens and given secrets', () => {
    const out = sanitize(
      `GET https://a.blob.core.windows.net/c/x?${SAS} sig=abc AccountKey=k3y== SharedKey acct:c2lnbmF0dXJl Bearer eyJ0eXAi.x.y my-secret`,
      ['my-secret'],
    );
    for (const leaked of ['c2VjcmV0c2lnbmF0dXJlMTIz', 'sig=abc', 'k3y==', 'c2lnbmF0dXJl', 'eyJ0eXAi', 'my-secret']) expect(out).not.toContain(leaked);
    expect(out).toContain('https://a.blob.core.windows.net/c/x?<redacted>');
  });
});
