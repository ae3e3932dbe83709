import { createFileSystem } from '../dist/index.js';
const fs = createFileSystem({ endpoint: 'http://127.0.0.1:45123', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
try { console.log((await fs.ls('')).length, (await fs.ls('s3://')).slice(0, 2)); } catch (e) { console.log('ls root:', e.name, e.message); }
try { console.log(await fs.info('')); } catch (e) { console.log('info root:', e.name, e.message); }
await fs.close();
