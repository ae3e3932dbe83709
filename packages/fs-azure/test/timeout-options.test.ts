import type http from 'node:http';

import { describe, expect, it } from 'vitest';

import { createFileSystem } from '../src/index.js';
import { resolveConnection } from '../src/connection.js';

const KEY = Buffer.from('not-a-real-account-key').toString('base64');
const connectionString = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:9/devstoreaccount1`;

const agentTimeout = (agent: http.Agent | undefined) => (agent as unknown as { options: { timeout?: number } }).options.timeout;

describe('Azure readTimeoutMs / connectTimeoutMs', () => {
  it('default to 60 s of inactivity and 10 s to connect, on the agent of the client built here', () => {
    const connection = resolveConnection({ connectionString }, 'az', {});
    try {
      expect(connection.timeouts).toEqual({ readTimeoutMs: 60_000, connectTimeoutMs: 10_000 });
      expect(agentTimeout(connection.agent)).toBe(60_000);
    } finally {
      connection.agent?.destroy();
    }
  });

  it('are overridable, and 0 turns a limit off', () => {
    const connection = resolveConnection({ connectionString, readTimeoutMs: 0, connectTimeoutMs: 0 }, 'az', {});
    try {
      expect(connection.timeouts).toEqual({ readTimeoutMs: 0, connectTimeoutMs: 0 });
      expect(agentTimeout(connection.agent)).toBeUndefined();
    } finally {
      connection.agent?.destroy();
    }
  });

  it('refuse nonsense values', () => {
    expect(() => createFileSystem({ connectionString, connectTimeoutMs: -1 })).toThrow(RangeError);
  });
});
