import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { isTokenCredential, type TokenCredential } from '@azure/core-auth';
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from '@azure/storage-blob';
import { InvalidPathError, ProtocolNotAvailableError, resolveRequestTimeouts, type FileSystemOptions, type RequestTimeouts } from '@strata/fs-core';
import { SignedBlobRequests } from './signed-requests.js';

export interface AzureBlobOptions extends FileSystemOptions {
  /** Full connection string (`AccountName=...;AccountKey=...` or with `SharedAccessSignature=...`). */
  connectionString?: string | undefined;
  accountName?: string | undefined;
  /** Shared key for `accountName`. Enables `sign()`. */
  accountKey?: string | undefined;
  /** SAS token (with or without the leading `?`) for `accountName` or `blobEndpoint`. */
  sasToken?: string | undefined;
  /** A TokenCredential from @azure/identity (or any compatible one). */
  credential?: TokenCredential | undefined;
  /** A ready client; used as is, including its own retry policy. */
  blobServiceClient?: BlobServiceClient | undefined;
  /** Blob endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1`. Default `https://<account>.blob.<endpointSuffix>`. */
  blobEndpoint?: string | undefined;
  /** Cloud endpoint suffix (default `core.windows.net`). */
  endpointSuffix?: string | undefined;
  /** Size of each staged block on upload and of read-handle blocks (default 8 MiB). */
  blockSize?: number | undefined;
  /** Blocks staged at once per upload (default 4). Upload memory is about blockSize × (uploadConcurrency + 1). */
  uploadConcurrency?: number | undefined;
  /** Blobs per listing page (default and Azure maximum 5000). */
  listPageSize?: number | undefined;
  /** Largest blob copied with the synchronous Copy Blob From URL (default and Azure maximum 256 MiB); larger ones use an asynchronous copy. */
  syncCopyLimit?: number | undefined;
  /**
   * Inactivity limit of every request, in ms (default 60 s): a try fails with a retryable
   * TimeoutError when the connection carries nothing for this long (waiting for the answer, or a
   * request body that cannot go out). A slow transfer that keeps moving is never cut. 0 turns it
   * off. Not applied to an injected `blobServiceClient`, which keeps its own pipeline.
   */
  readTimeoutMs?: number | undefined;
  /** Limit for setting up a connection, in ms (default 10 s); then the try fails with a retryable TimeoutError. 0 turns it off. */
  connectTimeoutMs?: number | undefined;
}

/** A resolved account: the client (possibly still loading @azure/identity) and what it can do. */
export interface AzureConnection {
  client: BlobServiceClient | Promise<BlobServiceClient>;
  accountName: string | undefined;
  /** Present when SAS URLs can be signed locally. */
  sharedKey: StorageSharedKeyCredential | undefined;
  /** Present when requests carry OAuth tokens (server-side copies then forward one). */
  tokenCredential: TokenCredential | undefined;
  /** Strings that must never appear in error messages. */
  secrets: string[];
  /** Keep-alive agent of a client built here (none for an injected client); close() destroys it. */
  agent: http.Agent | undefined;
  /** The limits of the requests of a client built here, and of SignedBlobRequests (default: the defaults). */
  timeouts?: RequestTimeouts | undefined;
}

/** Proxy settings the SDK's pipeline honours (its proxyPolicy); undici would not. */
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'];

/**
 * Get/Put Blob past the SDK's pipeline (SignedBlobRequests) for a client built here with a shared
 * key or a SAS token. An injected client keeps the SDK's path, since its pipeline may carry policies
 * of the caller's own; so do token credentials, whose refresh and challenges the SDK handles, and
 * every client when a proxy is configured in the environment.
 */
export function signedRequestsFor(connection: AzureConnection, env: NodeJS.ProcessEnv = process.env): SignedBlobRequests | undefined {
  const client = connection.client;
  // Only clients built here have an agent of ours.
  if (connection.agent === undefined || client instanceof Promise) return undefined;
  if (PROXY_VARIABLES.some((name) => env[name])) return undefined;
  const url = new URL(client.url);
  const serviceUrl = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  const timeouts = connection.timeouts ?? resolveRequestTimeouts({});
  if (connection.sharedKey) return new SignedBlobRequests(serviceUrl, { sharedKey: connection.sharedKey }, timeouts);
  const sasToken = url.search.slice(1);
  return sasToken ? new SignedBlobRequests(serviceUrl, { sasToken }, timeouts) : undefined;
}

/**
 * One try per request inside the SDK: fs-core's RetryPolicy already retries whatever the adapter
 * marks retryable, and two retry layers would multiply (4 × 4 tries, stacked backoffs).
 */
export const PIPELINE_OPTIONS: StoragePipelineOptions = {
  retryOptions: { maxTries: 1 },
  userAgentOptions: { userAgentPrefix: 'strata-fs-azure' },
};

const DEFAULT_SUFFIX = 'core.windows.net';

/**
 * Pipeline options with an agent of our own: without one the SDK shares a process-wide
 * keep-alive agent whose sockets nobody can release.
 */
function ownPipeline(url: string, timeouts: RequestTimeouts): { options: StoragePipelineOptions; agent: http.Agent } {
  // Free sockets expire after the read timeout too (or sooner, when the server says so).
  const settings = { keepAlive: true, timeout: timeouts.readTimeoutMs || undefined };
  const agent = limitInactivity(/^http:/i.test(url) ? new http.Agent(settings) : new https.Agent(settings), timeouts);
  // `agent` is a core-rest-pipeline option the storage pipeline passes through (not in its type).
  return { options: { ...PIPELINE_OPTIONS, agent } as StoragePipelineOptions, agent };
}

/**
 * Gives the agent's sockets a connect and an inactivity limit. The SDK's pipeline has neither
 * (its `tryTimeoutInMs` only asks the service to give up, in the URL): a server that accepts the
 * connection and never answers would hold a Get Blob Properties or a listing forever. A socket
 * quiet for the limit is destroyed with an ETIMEDOUT error, which the pipeline passes on as the
 * RestError's code and fs-core's RetryPolicy reports as a retryable TimeoutError. Node's timer
 * restarts on every read and write, so a transfer that keeps moving is never cut.
 */
function limitInactivity<A extends http.Agent>(agent: A, { readTimeoutMs, connectTimeoutMs }: RequestTimeouts): A {
  if (!readTimeoutMs && !connectTimeoutMs) return agent;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = create(options, callback) as Socket | null | undefined;
    if (!socket || typeof socket.setTimeout !== 'function') return socket;
    let limit = connectTimeoutMs;
    socket.setTimeout(limit);
    socket.once('connect', () => {
      limit = readTimeoutMs;
      socket.setTimeout(limit);
    });
    socket.on('timeout', () => {
      const what = socket.connecting ? 'connecting' : 'waiting for the server';
      socket.destroy(Object.assign(new Error(`Timed out after ${limit} ms ${what}`), { code: 'ETIMEDOUT' }));
    });
    return socket;
  };
  // Back in the pool, Node sets a socket's timer to the pool's (or the server's keep-alive hint,
  // which may be much shorter); a socket taken for a new request gets the inactivity limit again.
  const reuse = agent.reuseSocket.bind(agent);
  agent.reuseSocket = (socket, request) => {
    reuse(socket, request);
    (socket as Socket).setTimeout(readTimeoutMs);
  };
  return agent;
}

function clientFromConnectionString(cs: string, timeouts: RequestTimeouts): AzureConnection {
  // Parsed once to learn the endpoint's scheme, then built with an agent that fits it.
  const { options, agent } = ownPipeline(BlobServiceClient.fromConnectionString(cs).url, timeouts);
  return { ...fromClient(BlobServiceClient.fromConnectionString(cs, options), secretsOfConnectionString(cs)), agent };
}

function accountFromConnectionString(cs: string): string | undefined {
  if (/UseDevelopmentStorage=true/i.test(cs)) return 'devstoreaccount1';
  return /(?:^|;)\s*AccountName=([^;]+)/i.exec(cs)?.[1]?.trim();
}

function secretsOfConnectionString(cs: string): string[] {
  const found: string[] = [];
  for (const key of ['AccountKey', 'SharedAccessSignature']) {
    const value = new RegExp(`(?:^|;)\\s*${key}=([^;]+)`, 'i').exec(cs)?.[1]?.trim();
    if (value) found.push(value);
  }
  return found;
}

function sameAccount(a: string | undefined, b: string | undefined): boolean {
  return !a || !b || a.toLowerCase() === b.toLowerCase();
}

function endpointFor(options: AzureBlobOptions, accountName: string | undefined, protocol: string): string {
  if (options.blobEndpoint) return options.blobEndpoint.replace(/\/+$/, '');
  if (!accountName) {
    throw new ProtocolNotAvailableError(`${protocol}: an accountName or blobEndpoint is needed to reach Azure Blob Storage`, { protocol });
  }
  return `https://${accountName}.blob.${options.endpointSuffix ?? DEFAULT_SUFFIX}`;
}

function fromClient(client: BlobServiceClient, secrets: string[]): AzureConnection {
  const credential = client.credential;
  return {
    client,
    accountName: client.accountName || undefined,
    sharedKey: credential instanceof StorageSharedKeyCredential ? credential : undefined,
    tokenCredential: isTokenCredential(credential) ? credential : undefined,
    secrets,
    agent: undefined,
  };
}

/**
 * Picks the credentials, first match wins: an injected client; the options (connection string,
 * account key, SAS token, TokenCredential); the environment (AZURE_STORAGE_CONNECTION_STRING,
 * AZURE_STORAGE_ACCOUNT_NAME with _KEY or _SAS_TOKEN); finally an account name alone, which
 * authenticates with DefaultAzureCredential from the optional @azure/identity.
 */
export function resolveConnection(
  options: AzureBlobOptions,
  protocol: string,
  env: NodeJS.ProcessEnv = process.env,
  identityModule = '@azure/identity',
): AzureConnection {
  const timeouts = resolveRequestTimeouts(options);
  const connection = { ...connect(options, protocol, env, identityModule, timeouts), timeouts };
  // An account named by the caller (or by an `abfs://c@account...` URL) must be the one served.
  if (!sameAccount(options.accountName, connection.accountName)) {
    connection.agent?.destroy();
    throw new InvalidPathError(
      { protocol },
      `${protocol}: account "${options.accountName}" was asked for, but the credentials given are for account "${connection.accountName}"`,
    );
  }
  return connection;
}

function connect(options: AzureBlobOptions, protocol: string, env: NodeJS.ProcessEnv, identityModule: string, timeouts: RequestTimeouts): AzureConnection {
  if (options.blobServiceClient) return fromClient(options.blobServiceClient, []);
  if (options.connectionString) return clientFromConnectionString(options.connectionString, timeouts);
  const envAccount = env.AZURE_STORAGE_ACCOUNT_NAME || undefined;
  const accountName = options.accountName ?? envAccount;
  // Environment secrets belong to the environment's account; never send them to another one.
  const envMatches = sameAccount(envAccount, options.accountName);
  const accountKey = options.accountKey ?? (envMatches ? env.AZURE_STORAGE_ACCOUNT_KEY || undefined : undefined);
  const sasToken = options.sasToken ?? (envMatches ? env.AZURE_STORAGE_SAS_TOKEN || undefined : undefined);
  const envConnection = env.AZURE_STORAGE_CONNECTION_STRING || undefined;

  if (options.accountKey || options.sasToken || options.credential) {
    return fromParts(options, protocol, accountName, options.accountKey, options.sasToken, options.credential, timeouts);
  }
  if (envConnection && sameAccount(accountFromConnectionString(envConnection), options.accountName) && !options.blobEndpoint) {
    return clientFromConnectionString(envConnection, timeouts);
  }
  if (accountKey || sasToken) return fromParts(options, protocol, accountName, accountKey, sasToken, undefined, timeouts);
  if (accountName || options.blobEndpoint) {
    const url = endpointFor(options, accountName, protocol);
    const { options: pipeline, agent } = ownPipeline(url, timeouts);
    const client = loadDefaultCredential(protocol, accountName ?? url, identityModule).then(
      (credential) => new BlobServiceClient(url, credential, pipeline),
    );
    client.catch(() => undefined); // surfaced on first use, not as an unhandled rejection
    return { client, accountName, sharedKey: undefined, tokenCredential: undefined, secrets: [], agent };
  }
  throw new ProtocolNotAvailableError(
    `${protocol}: no Azure Storage account configured. Pass connectionString, accountName (+ accountKey, sasToken or credential) ` +
      'or blobServiceClient, or set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME (+ AZURE_STORAGE_ACCOUNT_KEY / AZURE_STORAGE_SAS_TOKEN)',
    { protocol },
  );
}

function fromParts(
  options: AzureBlobOptions,
  protocol: string,
  accountName: string | undefined,
  accountKey: string | undefined,
  sasToken: string | undefined,
  credential: TokenCredential | undefined,
  timeouts: RequestTimeouts,
): AzureConnection {
  const url = endpointFor(options, accountName, protocol);
  if (accountKey) {
    if (!accountName) {
      throw new ProtocolNotAvailableError(`${protocol}: accountKey needs accountName as well`, { protocol });
    }
    const { options: pipeline, agent } = ownPipeline(url, timeouts);
    const client = new BlobServiceClient(url, new StorageSharedKeyCredential(accountName, accountKey), pipeline);
    return withAccount({ ...fromClient(client, [accountKey]), agent }, accountName);
  }
  const { options: pipeline, agent } = ownPipeline(url, timeouts);
  if (sasToken) {
    const token = sasToken.replace(/^\?/, '');
    return withAccount({ ...fromClient(new BlobServiceClient(`${url}?${token}`, undefined, pipeline), [token]), agent }, accountName);
  }
  return withAccount({ ...fromClient(new BlobServiceClient(url, credential, pipeline), []), agent }, accountName);
}

function withAccount(connection: AzureConnection, accountName: string | undefined): AzureConnection {
  return accountName ? { ...connection, accountName } : connection;
}

/** DefaultAzureCredential from @azure/identity, which is an optional peer dependency. */
export async function loadDefaultCredential(protocol: string, account: string, moduleName = '@azure/identity'): Promise<TokenCredential> {
  let identity: { DefaultAzureCredential: new () => TokenCredential };
  try {
    identity = (await import(moduleName)) as typeof identity;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (code === 'ERR_MODULE_NOT_FOUND' && String(message).includes(moduleName)) {
      throw new ProtocolNotAvailableError(
        `${protocol}: only an account name was given (${account}), so Strata authenticates with DefaultAzureCredential, ` +
          `which needs the optional package ${moduleName}. Run \`npm install @azure/identity\`, or pass connectionString, ` +
          'accountKey, sasToken or credential.',
        { protocol, cause: error },
      );
    }
    throw error;
  }
  return new identity.DefaultAzureCredential();
}
