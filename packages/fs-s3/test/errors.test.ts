import { NoSuchBucket, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import {
  AbortError,
  AlreadyExistsError,
  ConflictError,
  InvalidPathError,
  NotFoundError,
  NotSupportedError,
  PermissionDeniedError,
  StorageError,
  TimeoutError,
  retryableNetworkCodes,
} from '@strata/fs-core';
import { inspect } from 'node:util';
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
    // A body changed on the way (its digest was computed before sending): sending again can succeed.
    expect(mapS3Error(serviceError('BadDigest', 400), ctx).retryable).toBe(true);
    expect(mapS3Error(serviceError('XAmzContentSHA256Mismatch', 400), ctx).retryable).toBe(true);
    // A 403 about the clock, not the credentials: the retry is signed with the server's time.
    const skewed = mapS3Error(serviceError('RequestTimeTooSkewed', 403), ctx);
    expect(skewed).not.toBeInstanceOf(PermissionDeniedError);
    expect(skewed.retryable).toBe(true);
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
    expect(mapped.cause).not.toBe(leaky);
    expect(String((mapped.cause as Error).stack)).not.toContain('deadbeefcafe');
  });

  it('keeps a sanitised cause: no raw request, session token or signature is reachable', () => {
    const token = 'FQoGZXIvYXdzEXAMPLESESSIONTOKEN';
    const header = `PUT /bucket/key HTTP/1.1\r\nx-amz-security-token: ${token}\r\nauthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature=abc123\r\n`;
    const raw = serviceError('InternalError', 500, 'We encountered an internal error.', {
      $response: { statusCode: 500, headers: {}, body: { req: { _header: header } } },
      $metadata: { httpStatusCode: 500, requestId: 'REQ123' },
    });
    const mapped = mapS3Error(raw, ctx);
    expect(mapped).toBeInstanceOf(StorageError);
    const cause = mapped.cause as Record<string, unknown>;
    expect(cause).toMatchObject({ name: 'InternalError', status: 500, requestId: 'REQ123', message: 'We encountered an internal error.' });
    expect(cause.$response).toBeUndefined();
    const everything = [inspect(mapped, { depth: 20, showHidden: true }), JSON.stringify(mapped), JSON.stringify(cause), String(cause.stack)].join('\n');
    expect(everything).not.toContain(token);
    expect(everything).not.toContain('abc123');
    expect(everything).not.toContain('AKIDEXAMPLE');
  });

  it('maps a bare 400 for a bucket name S3 cannot have to InvalidPathError', () => {
    for (const bucket of ['UPPER-Case', 'a', 'b'.repeat(70), 'under_score', '-dash-first']) {
      const mapped = mapS3Error(serviceError('Unknown', 400, 'UnknownError'), { protocol: 's3', path: `${bucket}/key`, bucket });
      expect(mapped, bucket).toBeInstanceOf(InvalidPathError);
      expect(mapped.message).toContain(`s3://${bucket}/key`);
    }
    expect(mapS3Error(serviceError('InvalidBucketName', 400), ctx)).toBeInstanceOf(InvalidPathError);
    // A bodiless 400 on a well-formed bucket is not blamed on the name.
    expect(mapS3Error(serviceError('Unknown', 400, 'UnknownError'), ctx)).not.toBeInstanceOf(InvalidPathError);
  });

  it('reports dropped connections as retryable StorageError and only real timeouts as TimeoutError', () => {
    // The SDK renames ECONNRESET/EPIPE errors TimeoutError.
    for (const [code, message] of [['ECONNRESET', 'socket hang up'], ['EPIPE', 'write EPIPE'], ['ECONNRESET', 'read ECONNRESET']]) {
      const mapped = mapS3Error(Object.assign(new Error(message), { name: 'TimeoutError', code }), ctx);
      expect(mapped, code).toBeInstanceOf(StorageError);
      expect(mapped.retryable).toBe(true);
      expect(mapped.message).toContain(code);
    }
    expect(mapS3Error(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), ctx)).toBeInstanceOf(StorageError);
    const timeout = mapS3Error(Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' }), ctx);
    expect(timeout).toBeInstanceOf(TimeoutError);
    expect(timeout.retryable).toBe(true);
    expect(mapS3Error(Object.assign(new Error('connect ETIMEDOUT'), { name: 'TimeoutError', code: 'ETIMEDOUT' }), ctx)).toBeInstanceOf(TimeoutError);
  });

  it("retries every one of fs-core's retryable network codes, but not ENOTFOUND (a bucket's host that does not resolve)", () => {
    for (const code of retryableNetworkCodes) {
      expect(mapS3Error(Object.assign(new Error(`connect ${code}`), { code }), ctx).retryable, code).toBe(true);
    }
    expect(mapS3Error(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), ctx).retryable).toBe(false);
  });
});
