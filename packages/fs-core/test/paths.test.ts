import { describe, expect, it } from 'vitest';

import { InvalidPathError } from '../src/index.js';
import { checkBucketSegment, isNormalPosixPath, normalizePath } from '../src/paths.js';

const posix = (p: string) => normalizePath(p, 'posix', 'file');
const bucket = (p: string) => normalizePath(p, 'bucket', 's3');

describe('normalizePath', () => {
  it('returns paths already in normal form unchanged, dot-like names included', () => {
    for (const p of ['/a', '/a/b.txt', '/...', '/.x/y.', '/a/..b/c..', '/ünï/😀/x', '/a b/\n']) expect(posix(p)).toBe(p);
    for (const p of ['b', 'b/k', 'b/.k/...']) expect(bucket(p)).toBe(p);
  });

  it('normalises everything else', () => {
    expect(posix('')).toBe('/');
    expect(posix('/')).toBe('/');
    expect(posix('a/b')).toBe('/a/b');
    expect(posix('//a//b/')).toBe('/a/b');
    expect(posix('/a/./b/.')).toBe('/a/b');
    expect(posix('/a/../b')).toBe('/b');
    expect(bucket('/b/k/')).toBe('b/k');
    expect(bucket('b/./x/../k')).toBe('b/k');
  });

  it('refuses NUL bytes, lone surrogates and climbing above the top', () => {
    for (const p of ['/a\0b', '/\uD800', '/x\uDC00y', '/..', '/a/../..']) expect(() => posix(p)).toThrow(InvalidPathError);
    for (const p of ['b/..', '..', 'b/k\0']) expect(() => bucket(p)).toThrow(InvalidPathError);
  });

  it("refuses a bucket holding ':' (URL credentials, a port) and never quotes the credentials, a '/' in them too", () => {
    // What the facade does for S3, GCS and Azure paths.
    const checked = (p: string) => {
      checkBucketSegment(p, 's3');
      return bucket(p);
    };
    const cases = ['user:hunter2@b/k', 'KEY:hunter2@b', '/./a:hunter2@b/k', 'u:hunter2@x@b/k', 'u:hunter2@b:9000/k', '../u:hunter2@b/k'];
    // Raw AWS secrets hold '/': the bucket segment then ends inside the secret.
    cases.push('AKIAEXAMPLE:wJal/hunter2+K7MDENG@bucket/key', '../AKIA:wJal/hunter2@bucket/k');
    for (const p of cases) {
      let error: unknown;
      try {
        checked(p);
      } catch (e) {
        error = e;
      }
      expect(error, p).toBeInstanceOf(InvalidPathError);
      const { message, path } = error as InvalidPathError;
      expect(`${message} ${path}`, p).not.toContain('hunter2');
      expect(`${message} ${path}`, p).toContain('***@');
    }
    expect(() => checked('b:9000/k')).toThrow(/cannot contain ':'.*s3:\/\/b:9000\/k/);
    expect(() => checked('b:/k')).toThrow(InvalidPathError);
    // Below the bucket ':' and '@' are ordinary key characters; posix paths take them anywhere.
    expect(checked('b/u:p@h/k:1')).toBe('b/u:p@h/k:1');
    expect(checked('c@acct.dfs.core.windows.net/k')).toBe('c@acct.dfs.core.windows.net/k');
    // normalizePath itself takes them: a plug-in's bucket-style store may be addressed by host:port.
    expect(bucket('127.0.0.1:6379/k')).toBe('127.0.0.1:6379/k');
    expect(posix('/u:p@h/k:1')).toBe('/u:p@h/k:1');
  });

  it('isNormalPosixPath holds only for paths that normalise to themselves', () => {
    const samples = ['/a/b', '/a/', '/a//b', 'a/b', '/./a', '/a/.', '/a/..', '/..a', '/', '', '/a\0', '/\uD800', '/😀'];
    for (const p of samples) {
      if (isNormalPosixPath(p)) expect(posix(p), p).toBe(p);
    }
    expect(samples.filter(isNormalPosixPath)).toEqual(['/a/b', '/..a']);
  });
});
