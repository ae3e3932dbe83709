import { startS3Server, startGcsServer, startAzurite } from '@strata/test-servers';
import { urlToFs } from '@strata/fs-core';
const [s3, gcs, az] = await Promise.all([startS3Server(), startGcsServer(), startAzurite()]);
const opts = {
  s3: { endpoint: s3.endpoint, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, retry: { attempts: 1 } },
  gs: { apiEndpoint: gcs.endpoint, projectId: gcs.projectId, retry: { attempts: 1 } },
  az: { connectionString: az.connectionString, retry: { attempts: 1 } },
  memory: {}, file: {},
};
const show = async (label, fn) => { try { const r = await fn(); console.log(label, '=>', typeof r === 'string' ? JSON.stringify(r).slice(0, 100) : JSON.stringify(r)?.slice(0, 160)); } catch (e) { console.log(label, '=> THROWS', e.constructor.name, e.code, JSON.stringify(e.message.slice(0, 160))); } };
try {
  for (const p of ['s3', 'gs', 'az']) {
    const { fs } = await urlToFs(`${p}://x`, opts);
    await fs.mkdir('hostile-bkt');
    const long = (n) => 'k'.repeat(n);
    for (const [label, key] of [['1024', long(1024)], ['1025', long(1025)], ['4000', long(4000)], ['crlf', 'a\r\nX-Injected: 1'], ['tab', 'a\tb'], ['del', 'a\x7fb'], ['ctl01', 'a\x01b'], ['qmark', 'key?versionId=1#frag'], ['backslash', 'a\\b'], ['pct', 'a%20b'], ['pct2f', 'a%2Fb'], ['nfc', 'caf\u00e9'], ['nfd', 'cafe\u0301'], ['lone surrogate', 'a\ud800b'], ['dot segment', 'd/./x'], ['trailing dot', 'x.']]) {
      await show(`${p} pipe ${label}`, async () => { await fs.pipe(`hostile-bkt/${key}`, 'v'); const c = await fs.cat(`hostile-bkt/${key}`); const names = (await fs.ls('hostile-bkt')).map(e => e.name).filter(n => n.endsWith(key) || n.includes(key.slice(0, 3))); return { got: new TextDecoder().decode(c), listed: names.length }; });
    }
    for (const url of [`${p}://`, `${p}:///`, `${p}:///key`, `${p}://no-such-bucket-zz/key`, `${p}://UPPER-Bucket/key`, `${p}://a/key`, `${p}://${'b'.repeat(70)}/key`, `${p}://bucket_under/key`, `${p}://hostile-bkt/../x`, `${p}://hostile-bkt/a/../b`]) {
      await show(`${p} info ${url.slice(0, 40)}`, async () => { const { fs: f, path } = await urlToFs(url, opts); return { path, info: await f.info(path).then(i => i.type, e => `${e.constructor.name}: ${e.message.slice(0, 100)}`) }; });
    }
    await show(`${p} ls root`, async () => { const { fs: f, path } = await urlToFs(`${p}://`, opts); return (await f.ls(path)).map(e => e.name).slice(0, 5); });
    await show(`${p} pipe root`, async () => { const { fs: f, path } = await urlToFs(`${p}://`, opts); await f.pipe(path, 'x'); });
    await show(`${p} pipe bucket`, async () => { const { fs: f, path } = await urlToFs(`${p}://hostile-bkt`, opts); await f.pipe(path, 'x'); });
    await fs.close();
  }
  for (const url of ['', 's3:/bucket/key', 's3:bucket/key', '://x', 'unknown://x', 's3::gs://x', ' s3://x', 'S3://hostile-bkt/k', 'memory://../x', 'memory://a/../../x', 'file://../x', 'memory://a\0b', 'gs://b/a\0b', 'abfs://c@otheracct.dfs.core.windows.net/x', 'abfs://c@devstoreaccount1.dfs.core.windows.net/x', 'az://c@bad/x']) {
    await show(`url ${JSON.stringify(url)}`, async () => { const { fs, path } = await urlToFs(url, opts); return { protocol: fs.protocol, path }; });
  }
} finally { await Promise.all([s3.stop(), gcs.stop(), az.stop()]); process.exit(0); }
