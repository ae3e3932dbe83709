// The loopback servers the cloud scenarios use: started on first need, stopped at the end.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startAzurite, startGcsServer, startS3Server, type AzuriteInfo, type GcsServerInfo, type S3ServerInfo } from '@strata/test-servers';

export const BUCKET = 'strata-bench';

export interface ServerInfos {
  s3?: S3ServerInfo;
  gcs?: GcsServerInfo;
  azure?: AzuriteInfo;
}

export type ServerName = keyof ServerInfos;

type Running = { stop(): Promise<void> };

export class Servers {
  readonly info: ServerInfos = {};
  private readonly running = new Map<ServerName, Running>();
  private readonly failures = new Map<ServerName, string>();

  /** Starts `name` (once) and creates the bench bucket/container. Throws with the reason if it cannot. */
  async ensure(name: ServerName): Promise<void> {
    if (this.running.has(name)) return;
    const failed = this.failures.get(name);
    if (failed) throw new Error(failed);
    try {
      if (name === 's3') {
        const server = await startS3Server();
        this.running.set(name, server);
        this.info.s3 = pick(server, ['kind', 'endpoint', 'region', 'accessKeyId', 'secretAccessKey', 'forcePathStyle', 'pid']);
        const client = new S3Client({
          endpoint: server.endpoint,
          region: server.region,
          forcePathStyle: true,
          credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        });
        await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
        client.destroy();
      } else if (name === 'gcs') {
        const server = await startGcsServer();
        this.running.set(name, server);
        this.info.gcs = pick(server, ['endpoint', 'projectId', 'pid']);
        const response = await fetch(`${server.endpoint}/storage/v1/b?project=${server.projectId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: BUCKET }),
        });
        if (!response.ok) throw new Error(`creating the GCS bucket answered ${response.status}: ${await response.text()}`);
      } else {
        const server = await startAzurite();
        this.running.set(name, server);
        this.info.azure = pick(server, ['blobEndpoint', 'accountName', 'accountKey', 'connectionString', 'pid']);
        const { BlobServiceClient } = await import('@azure/storage-blob');
        await BlobServiceClient.fromConnectionString(server.connectionString).getContainerClient(BUCKET).createIfNotExists();
      }
    } catch (error) {
      const message = `${name} test server unavailable: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      this.failures.set(name, message);
      await this.running.get(name)?.stop().catch(() => undefined);
      this.running.delete(name);
      throw new Error(message, { cause: error });
    }
  }

  /** Stops `name` (if running) and starts it afresh with an empty bucket. */
  async restart(name: ServerName): Promise<void> {
    await this.running.get(name)?.stop();
    this.running.delete(name);
    delete this.info[name];
    await this.ensure(name);
  }

  async stopAll(): Promise<void> {
    const stops = [...this.running.values()].map((s) => s.stop().catch(() => undefined));
    this.running.clear();
    await Promise.all(stops);
  }
}

function pick<T extends object, K extends keyof T>(from: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = from[k];
  return out;
}
