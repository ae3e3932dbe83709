/** Connection details of the loopback S3 server (MinIO). All fields are plain data. */
export interface S3ServerInfo {
  kind: 'minio' | 'moto';
  /** http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The server answers path-style URLs only (http://127.0.0.1:PORT/bucket/key). */
  forcePathStyle: true;
  pid: number;
}

/** Connection details of fake-gcs-server. Point @google-cloud/storage's `apiEndpoint` at `endpoint`. */
export interface GcsServerInfo {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  projectId: string;
  pid: number;
}

/** Connection details of Azurite's blob service (account devstoreaccount1). */
export interface AzuriteInfo {
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  connectionString: string;
  pid: number;
}

export interface RunningServer {
  /** Kills the server and its children, waits for exit and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** How long to wait for the server to answer; default 60 000 ms. */
  startTimeoutMs?: number;
}

export interface GcsStartOptions extends StartOptions {
  /** 'memory' (default) or 'filesystem' (in the server's temp dir; cannot hold both `a` and `a/b`). */
  backend?: 'memory' | 'filesystem';
}

export interface AzuriteStartOptions extends StartOptions {
  /** Pass --loose: ignore unsupported headers instead of failing the request. Default false. */
  loose?: boolean;
}

export type ServerName = 's3' | 'gcs' | 'azure';

export interface ServerInfoByName {
  s3: S3ServerInfo;
  gcs: GcsServerInfo;
  azure: AzuriteInfo;
}

export declare const SERVER_NAMES: readonly ServerName[];
export declare const AZURITE_ACCOUNT_NAME: 'devstoreaccount1';
export declare const AZURITE_ACCOUNT_KEY: string;

export declare class TestServerError extends Error {}

/** Starts MinIO on a free 127.0.0.1 port with a fresh temp dir. Throws if it is not installed. */
export declare function startS3Server(options?: StartOptions): Promise<S3ServerInfo & RunningServer>;
/** Starts fake-gcs-server (in-memory backend) on a free 127.0.0.1 port. */
export declare function startGcsServer(options?: GcsStartOptions): Promise<GcsServerInfo & RunningServer>;
/** Starts Azurite's blob service on a free 127.0.0.1 port with a fresh temp dir. */
export declare function startAzurite(options?: AzuriteStartOptions): Promise<AzuriteInfo & RunningServer>;
/** Starts a server by short name. */
export declare function startServer<N extends ServerName>(
  name: N,
  options?: StartOptions,
): Promise<ServerInfoByName[N] & RunningServer>;
/** Absolute path of the test venv's python (safetensors, numpy, ml_dtypes). Throws if not installed. */
export declare function pythonPath(): string;
/** A 127.0.0.1 port that was free a moment ago. */
export declare function findFreePort(): Promise<number>;
