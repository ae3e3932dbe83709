import { InvalidPathError, urlToFs } from '@strata/fs-core';
import { describe, expect, test } from 'vitest';
import { parseAzureUrl, parseUrl } from '../src/index.js';

describe('parseAzureUrl', () => {
  test('plain az, azure and abfs URLs carry only the path', () => {
    expect(parseAzureUrl('az://data/dir/x.bin')).toEqual({ protocol: 'az', path: 'data/dir/x.bin' });
    expect(parseAzureUrl('azure://data')).toEqual({ protocol: 'azure', path: 'data' });
    expect(parseAzureUrl('ABFS://data/x')).toEqual({ protocol: 'abfs', path: 'data/x' });
  });

  test('the container@account.dfs.core.windows.net form yields the account and a container path', () => {
    expect(parseAzureUrl('abfs://data@myacct.dfs.core.windows.net/dir/x.bin')).toEqual({
      protocol: 'abfs',
      path: 'data/dir/x.bin',
      accountName: 'myacct',
      endpointSuffix: 'core.windows.net',
    });
    expect(parseAzureUrl('abfss://data@MyAcct.dfs.core.chinacloudapi.cn')).toEqual({
      protocol: 'abfss',
      path: 'data',
      accountName: 'myacct',
      endpointSuffix: 'core.chinacloudapi.cn',
    });
    expect(parseAzureUrl('az://data@myacct.blob.core.windows.net/k').accountName).toBe('myacct');
  });

  test('malformed or foreign URLs are InvalidPathError', () => {
    expect(() => parseAzureUrl('s3://bucket/key')).toThrow(InvalidPathError);
    expect(() => parseAzureUrl('data/x')).toThrow(InvalidPathError);
    expect(() => parseAzureUrl('abfs://')).toThrow(InvalidPathError);
    expect(() => parseAzureUrl('abfs://data@not-a-host/x')).toThrow(InvalidPathError);
    expect(() => parseAzureUrl('abfs://@myacct.dfs.core.windows.net/x')).toThrow(InvalidPathError);
  });
});

describe('registry hook', () => {
  test('parseUrl hands the account to the options and keeps container/path', () => {
    expect(parseUrl('abfs://data@myacct.dfs.core.windows.net/dir/x')).toEqual({
      path: 'data/dir/x',
      options: { accountName: 'myacct', endpointSuffix: 'core.windows.net' },
    });
    expect(parseUrl('az://data/x')).toEqual({ path: 'data/x', options: {} });
  });

  test('urlToFs resolves the abfs account form without further configuration (no request is sent)', async () => {
    const { fs, path } = await urlToFs('abfs://data@myacct.dfs.core.windows.net/dir/x', {
      abfs: { accountKey: Buffer.from('not-a-real-key').toString('base64') },
    });
    expect(fs.protocol).toBe('abfs');
    expect(path).toBe('data/dir/x');
    expect(fs.capabilities.sign).toBe(true);
  });
});
