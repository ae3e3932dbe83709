import { inspect } from 'node:util';
const require_inspect = (e) => inspect(e, { depth: 4 }).slice(0, 4000);
import { startS3Server } from '@strata/test-servers';
import { FaultProxy } from '@strata/reliability';
import { createFileSystem } from '@strata/fs-s3';
import { S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
const s = await startS3Server();
try {
  const raw = new S3Client({ endpoint: s.endpoint, region: s.region, forcePathStyle: true, credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } });
  await raw.send(new CreateBucketCommand({ Bucket: 'bkt-stall' }));
  const faults = process.argv[2].split(',');
  const proxy = await FaultProxy.start({ target: s.endpoint, dialect: 's3', rules: [{ rate: Number(process.argv[3]), fault: faults }], seed: 3, stallMs: 3000 });
  const fs = createFileSystem({ endpoint: proxy.url, region: s.region, credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey }, retry: { attempts: 10, baseDelayMs: 5, maxDelayMs: 50, timeoutMs: Number(process.argv[4]) } });
  const log = new Map();
  fs.retry.onRetry = (e) => { const p = e.error?.path ?? e.error?.cause?.path; log.set(p, (log.get(p) ?? []).concat(`${e.attempt}:${e.error?.name}<${e.error?.cause?.name}/${e.error?.cause?.code}>`)); };
  let next = 0, failures = 0;
  const N = Number(process.argv[5] ?? 300);
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < N) {
      const i = next++;
      const p = `bkt-stall/x/f${i}.txt`;
      try { await fs.pipe(p, `content ${i}`, { mode: i % 2 ? 'create' : 'overwrite' }); } catch (e) { failures++; if (e.cause?.message === 'aborted') console.log('ABORTED-DETAIL', require_inspect(e)); console.log('FAIL', p, e.name, e.message, '| cause', e.cause?.name, e.cause?.message, e.cause?.code, JSON.stringify(e.cause?.$metadata), e.cause?.$response?.statusCode, '| retries', JSON.stringify(log.get(p))); }
    }
  }));
  console.log('failures', failures, proxy.stats.faults);
  await fs.close(); await proxy.close();
} finally { await s.stop(); }
