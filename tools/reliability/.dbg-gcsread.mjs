import { startGcsServer } from '@strata/test-servers';
import { FaultProxy } from '@strata/reliability';
import { createFileSystem } from '@strata/fs-gcs';
const s = await startGcsServer();
const withTimeout = (p, ms, label) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('HANG ' + label)), ms))]);
try {
  const direct = createFileSystem({ apiEndpoint: s.endpoint, projectId: s.projectId });
  await direct.mkdir('bkt');
  const data = new Uint8Array(3 * 1024 * 1024 + 333).map((_, i) => (i * 7) & 255);
  await direct.pipe('bkt/x.bin', data);
  const proxy = await FaultProxy.start({ target: s.endpoint, dialect: 'gcs' });
  for (const attempts of [1, 5]) {
    const fs = createFileSystem({ apiEndpoint: proxy.url, projectId: s.projectId, retry: { attempts, baseDelayMs: 1, timeoutMs: 120000 }, blockSize: 1024 * 1024 });
    const modes = {
      whole: () => fs.cat('bkt/x.bin'),
      range: () => fs.cat('bkt/x.bin', { start: 1000, end: 2 * 1024 * 1024 }),
      handle: async () => { const h = await fs.open('bkt/x.bin', 'rb'); return h.read(); },
      stream: async () => { const h = await fs.open('bkt/x.bin', 'rb'); const parts = []; for await (const c of h.stream()) parts.push(c); return Buffer.concat(parts); },
    };
    for (const [label, fn] of Object.entries(modes)) {
      for (const fault of ['reset-response']) {
        proxy.setRules([{ operation: 'Download', fault, times: 2 }]);
        proxy.resetStats();
        try { const r = await withTimeout(fn(), 20000, label); console.log(attempts, label, fault, 'OK len', r.length, 'injected', proxy.stats.injected); }
        catch (e) { console.log(attempts, label, fault, 'ERR', e.name, e.message.slice(0, 150), 'retryable', e.retryable, 'injected', proxy.stats.injected); }
      }
    }
  }
  await proxy.close();
} finally { await s.stop(); process.exit(0); }
