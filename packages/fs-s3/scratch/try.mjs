import { createFileSystem } from '../dist/index.js';
const fs = createFileSystem({ endpoint: process.env.EP, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, retry: { attempts: 1 } });
await fs.mkdir('trial');
await fs.pipe('trial/a/b.txt', 'hello');
console.log(await fs.ls('trial'), await fs.info('trial/a'), new TextDecoder().decode(await fs.cat('trial/a/b.txt', { start: 1, end: -1 })));
try { await fs.pipe('trial/a/b.txt', 'x', { mode: 'create' }); console.log('create overwrote!'); } catch (e) { console.log('create ->', (e).name, (e).message); }
const w = await fs.open('trial/big.bin', 'wb');
const chunk = new Uint8Array(1 << 20);
for (let i = 0; i < 12; i++) { chunk.fill(i); await w.write(chunk); }
await w.commit();
console.log((await fs.info('trial/big.bin')));
console.log(await fs.exists('nobucket/x'), await fs.exists('trial/zzz'));
const url = await fs.sign('trial/a/b.txt', { expiresIn: 60 });
console.log(url.replace(/Signature=[^&]+/, 'Signature=…'), await (await fetch(url)).text());
await fs.cp('trial/big.bin', 'trial/copy.bin');
await fs.rm('trial/a', { recursive: true });
console.log(await fs.find('trial'));
await fs.close();
