import { NoSuchBucket, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  StorageError,
} from '@strata/fs-core';
import { describe, expect, it } from 'vitest';
import { mapS3Error, type S3ErrorContext } from '../src/index.js';

const ctx: S3ErrorContext = { protocol: 's3', path: 'bucket/dir/key.bin', bucket: 'bucket' };

function serviceError(name: string, status: number, message = '', extra: object = {}): S3ServiceException {
  return Object.assign(
    new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message }),
    extra,
  );
}

describe('mapS3Error', () => {
  it('maps missing keys and buckets to NotFoundError, naming the bucket', () => {
    const key = mapS3Error(new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'The specified key does not exist.' }), ctx);
    expect(key).toBeInstanceOf(NotFoundError);
    expect(key.message).toContain('s3://bucket/dir/key.bin');
    const bucket = mapS3Error(new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'no bucket' }), ctx);
    expect(bucket).toBeInstanceOf(NotFoundError);
    expect(bucket.message).toMatch(/No such bucket: s3:\/\/bucket\b/);
    expect(mapS3Error(serviceError('NotFound', 404), ctx)).toBeInstanceOf(NotFoundError); // HEAD: no body
  });

  it('maps auth failures to PermissionDeniedError, by code or by bare 403', () => {
    for (const name of ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']) {
      expect(mapS3Error(serviceError(name, 403), ctx)).toBeInstanceOf(PermissionDeniedError);
    }
    const bare = mapS3Error(serviceError('Forbidden', 403), ctx);
    expect(bare).toBeInstanceOf(PermissionDeniedError);
    expect(bare.retryable).toBe(false);
  });

  it('maps 412 by what the request was conditional on', () => {
    const failed = serviceError('PreconditionFailed', 412);
    expect(mapS3Error(failed, { ...ctx, precondition: 'exists' })).toBeInstanceOf(AlreadyExistsError);
    expect(mapS3Error(failed, { ...ctx, precondition: 'changed' })).toBeInstanceOf(ConflictError);
    expect(mapS3Error(failed, ctx)).toBeInstanceOf(StorageError);
  });

  it('marks 5xx, throttling and socket errors retryable, and keeps Retry-After', () => {
    const slow = mapS3Error(serviceError('SlowDown', 503, 'Please reduce your request rate.', { $response: { headers: { 'retry-after': '2' } } }), ctx);
    expect(slow).toBeInstanceOf(StorageError);
    expect(slow.retryable).toBe(true);
    expect((slow as { retryAfterMs?: number }).retryAfterMs).toBe(2000);
    expect(mapS3Error(serviceError('InternalError', 500), ctx).retryable).toBe(true);
    expect(mapS3Error(serviceError('Throttling', 400), ctx).retryable).toBe(true);
    const reset = mapS3Error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), ctx);
    expect(reset.retryable).toBe(true);
    expect(mapS3Error(serviceError('InvalidArgument', 400), ctx).retryable).toBe(false);
    expect(mapS3Error(serviceError('NotImplemented', 501), ctx)).toBeInstanceOf(NotSupportedError);
  });

  it('maps SDK aborts to AbortError', () => {
    expect(mapS3Error(Object.assign(new Error('Request aborted'), { name: 'AbortError' }), ctx)).toBeInstanceOf(AbortError);
  });

  it('keeps signatures and credentials out of messages', () => {
    const leaky = new Error(
      'failed GET http://h/b/k?X-Amz-Credential=AKIDEXAMPLE%2F2026&X-Amz-Signature=deadbeefcafe Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature=abc123',
    );
    const mapped = mapS3Error(leaky, ctx);
    expect(mapped.message).not.toContain('deadbeefcafe');
    expect(mapped.message).not.toContain('abc123');
    expect(mapped.message).not.toContain('AKIDEXAMPLE');
    expect(mapped.cause).toBe(leaky);
  });
});
