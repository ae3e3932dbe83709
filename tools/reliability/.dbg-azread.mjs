import { startAzurite } from '@strata/test-servers';
import { FaultProxy } from '@strata/reliability';
import { createFileSystem } from '@strata/fs-azure';
import { inspect } from 'node:util';
const s = await startAzurite();
try {
  const direct = createFileSystem({ connectionString: s.connectionString });
  await direct.mkdir('ctr');
  const data = new Uint8Array(3 * 1024 * 1024 + 333).map((_, i) => (i * 7) & 255);
  await direct.pipe('ctr/x.bin', data);
  const proxy = await FaultProxy.start({ target: new URL(s.blobEndpoint).origin, dialect: 'azure' });
  const cs = `DefaultEndpointsProtocol=http;AccountName=${s.accountName};AccountKey=${s.accountKey};BlobEndpoint=${proxy.url}/${s.accountName};`;
  const fs = createFileSystem({ connectionString: cs, retry: { attempts: 1 } });
  for (const fault of ['truncate-body', 'reset-response']) {
    proxy.setRules([{ operation: 'Download', fault, times: 1 }]);
    try { const r = await fs.cat('ctr/x.bin'); console.log(fault, 'OK', r.length); }
    catch (e) { console.log(fault, 'ERR', e.name, e.message, e.retryable); let c = e.cause; let d = 0; while (c && d < 5) { console.log('  cause', d, c.name, c.code, c.message, c.statusCode); c = c.cause; d++; } console.log(inspect(e.cause, { depth: 1 }).slice(0, 1500)); }
  }
  await proxy.close();
} finally { await s.stop(); process.exit(0); }
