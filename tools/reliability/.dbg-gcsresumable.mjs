import { startGcsServer } from '@strata/test-servers';
const s = await startGcsServer();
try {
  await fetch(`${s.endpoint}/storage/v1/b?project=${s.projectId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bkt' }) });
  const start = await fetch(`${s.endpoint}/upload/storage/v1/b/bkt/o?uploadType=resumable&name=obj`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'obj' }) });
  const session = start.headers.get('location');
  console.log('start', start.status, session);
  const chunk = new Uint8Array(256 * 1024).fill(7);
  const r1 = await fetch(session, { method: 'PUT', headers: { 'content-range': `bytes 0-${chunk.length - 1}/*` }, body: chunk });
  console.log('chunk1', r1.status, r1.headers.get('range'), (await r1.text()).slice(0, 200));
  const q = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */*' } });
  console.log('status query', q.status, q.headers.get('range'), (await q.text()).slice(0, 300));
  const get = await fetch(`${s.endpoint}/storage/v1/b/bkt/o/obj`);
  console.log('object visible after status query?', get.status, (await get.text()).slice(0, 200));
  const r2 = await fetch(session, { method: 'PUT', headers: { 'content-range': `bytes ${chunk.length}-${2 * chunk.length - 1}/${2 * chunk.length}` }, body: chunk });
  console.log('final chunk after query', r2.status, (await r2.text()).slice(0, 200));
  const q2 = await fetch(session, { method: 'PUT', headers: { 'content-range': 'bytes */*' } });
  console.log('status query after final', q2.status, (await q2.text()).slice(0, 200));
} finally { await s.stop(); }
