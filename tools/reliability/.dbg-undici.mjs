import { startGcsServer } from '@strata/test-servers';
import { FaultProxy } from '@strata/reliability';
import { createFileSystem } from '@strata/fs-gcs';
const s = await startGcsServer();
try {
  const direct = createFileSystem({ apiEndpoint: s.endpoint, projectId: s.projectId });
  await direct.mkdir('bkt');
  await direct.pipe('bkt/x.bin', new Uint8Array(3 * 1024 * 1024 + 333).fill(3));
  const proxy = await FaultProxy.start({ target: s.endpoint, dialect: 'gcs' });
  for (const fault of ['truncate-body', 'reset-response']) for (let i = 0; i < 5; i++) {
    proxy.setRules([{ operation: 'Download', fault }]);
    const t = Date.now();
    try {
      const r = await fetch(`${proxy.url}/storage/v1/b/bkt/o/x.bin?alt=media`, { headers: i % 2 ? { range: 'bytes=1000-2000000' } : {} });
      const b = await r.arrayBuffer();
      console.log(fault, 'NO ERROR', r.status, b.byteLength);
    } catch (e) { console.log(fault, 'error after', Date.now() - t, 'ms:', e.name, e.message, e.cause?.code ?? e.cause?.name); }
  }
  await proxy.close();
} finally { await s.stop(); process.exit(0); }
