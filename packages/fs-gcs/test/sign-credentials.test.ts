/**
 * sign() with credentials that hold no key. The auth library would find that out by probing the GCE
 * metadata server (169.254.169.254): here any probe goes to a loopback stub that counts it, so the
 * tests never send traffic off the machine and can check that no probe happened.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { File, Storage } from '@google-cloud/storage';
import { NotSupportedError } from '@strata/fs-core';
import { expectFsError } from '@strata/fs-core/testing';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createFileSystem } from '../src/index.js';
import { server } from './helpers.js';

let stub: Server;
let probes = 0;
const saved = { host: process.env['GCE_METADATA_HOST'], detection: process.env['METADATA_SERVER_DETECTION'] };

beforeAll(async () => {
  stub = createServer((_req, res) => {
    probes++;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
  process.env['GCE_METADATA_HOST'] = `127.0.0.1:${(stub.address() as AddressInfo).port}`;
  delete process.env['METADATA_SERVER_DETECTION'];
});
afterAll(async () => {
  for (const [name, value] of [['GCE_METADATA_HOST', saved.host], ['METADATA_SERVER_DETECTION', saved.detection]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  vi.restoreAllMocks();
  await new Promise((resolve) => stub.close(resolve));
});

/** A client on the emulator authenticated by `authClient`, as an application would hand one in. */
function storageWith(authClient?: OAuth2Client): Storage {
  const { endpoint, projectId } = server();
  return new Storage({ apiEndpoint: endpoint, projectId, authClient, useAuthWithCustomEndpoint: true, retryOptions: { autoRetry: false } });
}

describe('sign() with credentials that cannot sign', () => {
  it('an access-token client: capabilities.sign is false and sign() is NotSupportedError, with no metadata-server probe', async () => {
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'ya29.not-a-real-token', expiry_date: Date.now() + 3_600_000, token_type: 'Bearer' });
    const fs = createFileSystem({ storage: storageWith(authClient) });
    try {
      expect(fs.capabilities.sign).toBe(false);
      const error = await expectFsError(fs.sign!('bkt/key.txt', { expiresIn: 60 }), NotSupportedError);
      expect(error.code).toBe('ENOTSUP');
      expect(error.message).toContain('gs://bkt/key.txt');
      expect(probes, 'metadata-server probes').toBe(0);
    } finally {
      await fs.close();
    }
  });

  it("the auth library's \"Unable to find credentials\" refusal is NotSupportedError, not a storage error", async () => {
    // Application Default Credentials can only be judged by trying; the refusal is what the SDK says
    // for a client with neither key nor service account (stubbed: finding out would probe for GCE).
    const refusal = new Error('Unable to find credentials in current environment. \nTo learn more about authentication and Google APIs, visit: \nhttps://cloud.google.com/docs/authentication/getting-started');
    const signed = vi.spyOn(File.prototype, 'getSignedUrl').mockRejectedValue(refusal);
    const fs = createFileSystem({ storage: storageWith() });
    try {
      expect(fs.capabilities.sign, 'ADC on an authenticated endpoint may sign').toBe(true);
      const error = await expectFsError(fs.sign!('bkt/key.txt', { expiresIn: 60 }), NotSupportedError);
      expect(error.cause).toBeDefined();
      expect(signed).toHaveBeenCalledTimes(1);
      expect(probes, 'metadata-server probes').toBe(0);
    } finally {
      signed.mockRestore();
      await fs.close();
    }
  });
});
