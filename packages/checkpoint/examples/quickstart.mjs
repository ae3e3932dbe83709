// Save a training checkpoint, inspect it, load part of it, and load weights into a model in place.
// Run from the repository (after `npm run build`):  node packages/checkpoint/examples/quickstart.mjs [url]
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadCheckpoint, loadStateDict, readCheckpointInfo, saveCheckpoint, tensor } from '@strata/checkpoint';

const url = process.argv[2] ?? join(tmpdir(), `strata-quickstart-${process.pid}`, 'epoch-3.safetensors');

const model = {
  'encoder.weight': tensor('F32', [2, 3], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
  'encoder.bias': tensor('F32', [3], [0, 0, 1]),
  'head.weight': tensor('BF16', [3], [1.5, -2, 0.25]),
};

await saveCheckpoint(
  {
    epoch: 3,
    global_step: 1200,
    state_dict: model,
    optimizer_states: [{ step: 1200n, lr: 3e-4, exp_avg: [tensor('F32', [3], [0.01, 0.02, 0.03])] }],
    loops: { best_score: -Infinity, seen: new Set(['train', 'val']) },
    saved_at: new Date('2025-01-01T00:00:00Z'),
  },
  url,
  { onProgress: (done, total) => done === total && console.log(`wrote ${total} bytes to ${url}`) },
);

const info = await readCheckpointInfo(url);
console.log(info.format, `v${info.version}`, info.tensors.map((t) => `${t.name}: ${t.dtype}[${t.shape}]`).join(', '));

// Only the encoder: reads the header and the byte ranges of the selected tensors, nothing else.
const partial = await loadCheckpoint(url, { keys: (name) => name.startsWith('state_dict.encoder') });
console.log('partial state_dict keys:', Object.keys(partial.state_dict).join(', '));

// Everything, digest-verified, then copied into a fresh model's tensors in place.
const full = await loadCheckpoint(url);
const fresh = { 'encoder.weight': tensor('F32', [2, 3]), 'encoder.bias': tensor('F32', [3]), 'head.weight': tensor('BF16', [3]) };
const { missingKeys, unexpectedKeys } = loadStateDict(fresh, full.state_dict, { strict: true });
console.log('epoch', full.epoch, 'step', full.optimizer_states[0].step, 'best', full.loops.best_score, 'missing', missingKeys.length, 'unexpected', unexpectedKeys.length);
console.log('encoder.weight', Array.from(fresh['encoder.weight'].data));
