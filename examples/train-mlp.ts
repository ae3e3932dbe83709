/**
 * The main job: trains a small MLP on a generated data set, saving checkpoints under
 * `<root>/<run>/checkpoints`, then starts a fresh Trainer and Module that resume from 'last'.
 *
 *   npm start                                   # ./strata_runs/<run>
 *   npm start -- --root s3://my-bucket/runs     # any fs-core URL: s3://, gs://, az://, memory://, a path
 *
 * Options: --root URL, --run NAME, --epochs N (first phase), --more N (epochs added by the resume),
 * --async (AsyncCheckpointIO: training continues while a checkpoint is written), --seed N.
 * Storage options come from the environment: the cloud SDKs read their usual variables
 * (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_S3, GOOGLE_APPLICATION_CREDENTIALS, ...), and
 * STRATA_STORAGE_OPTIONS may hold JSON such as {"s3":{"endpoint":"http://127.0.0.1:9000"}}.
 */
import { parseArgs } from 'node:util';
import { AsyncCheckpointIO, FsCheckpointIO, readCheckpointInfo, type CheckpointIO } from '@strata/checkpoint';
import { urlToFs, type StorageOptions } from '@strata/fs-core';
import { ClassificationDataModule, MLPClassifier, ModelCheckpoint, Trainer, joinUrl, type CheckpointDict } from '@strata/trainer';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: './strata_runs' },
    run: { type: 'string' },
    epochs: { type: 'string', default: '4' },
    more: { type: 'string', default: '2' },
    seed: { type: 'string', default: '42' },
    async: { type: 'boolean', default: false },
  },
});

const storageOptions = process.env.STRATA_STORAGE_OPTIONS ? (JSON.parse(process.env.STRATA_STORAGE_OPTIONS) as StorageOptions) : undefined;
const run = values.run ?? `mlp-${new Date().toISOString().replace(/[:.]/g, '-')}`;
const root = joinUrl(values.root, run);
const epochs = Number(values.epochs);
const more = Number(values.more);
const seed = Number(values.seed);

const data = { samples: 8_000, features: 16, classes: 6, spread: 3.5, batchSize: 64 };
const model = { inputSize: data.features, hiddenSize: 128, numClasses: data.classes, optimizer: 'adam' as const, lr: 3e-3, lrStepSize: 2, gamma: 0.5 };

function checkpointIO(): CheckpointIO {
  const io = new FsCheckpointIO({ storageOptions });
  return values.async ? new AsyncCheckpointIO(io) : io;
}

function modelCheckpoint(): ModelCheckpoint {
  return new ModelCheckpoint({ monitor: 'val_loss', filename: '{epoch}-{step}-{val_loss:.2f}', saveTopK: 2, saveLast: true });
}

async function listCheckpoints(dir: string): Promise<string[]> {
  const { fs, path } = await urlToFs(dir, storageOptions);
  try {
    return (await fs.ls(path)).map((e) => `${e.name.slice(e.name.lastIndexOf('/') + 1)} (${(e.size / 1024).toFixed(1)} KiB)`);
  } finally {
    await fs.close();
  }
}

console.log(`Strata MLP demo: run directory ${root}`);
console.log(`\n== Phase 1: train ${epochs} epochs from scratch (seed ${seed}) ==`);
const first = new Trainer({ defaultRootDir: root, maxEpochs: epochs, seed, storageOptions, checkpointIO: checkpointIO(), callbacks: [modelCheckpoint()] });
const started = performance.now();
await first.fit(new MLPClassifier({ ...model, seed }), { datamodule: new ClassificationDataModule(data) });
const phase1 = first.checkpointCallback!;
console.log(`Trained ${first.globalStep} steps in ${((performance.now() - started) / 1000).toFixed(1)} s: val_loss ${first.callbackMetrics.val_loss?.toFixed(4)}, val_acc ${first.callbackMetrics.val_acc?.toFixed(3)}`);
console.log(`Checkpoints in ${phase1.dirpath}:`);
for (const line of await listCheckpoints(phase1.dirpath!)) console.log(`  ${line}`);
console.log(`best: ${phase1.bestModelPath} (val_loss ${phase1.bestModelScore?.toFixed(4)})`);

console.log(`\n== Phase 2: a fresh Trainer and Module resume from 'last' and train ${more} more epochs ==`);
const module = new MLPClassifier({ ...model, seed: seed + 1 }); // different init: everything must come from the checkpoint
let restored: CheckpointDict | undefined;
module.onLoadCheckpoint = (ckpt) => {
  restored = ckpt;
};
const second = new Trainer({ defaultRootDir: root, maxEpochs: epochs + more, seed, storageOptions, checkpointIO: checkpointIO(), callbacks: [modelCheckpoint()] });
const resumedAt = performance.now();
await second.fit(module, { datamodule: new ClassificationDataModule(data), ckptPath: 'last' });
if (!second.ckptPath || !restored) throw new Error("Phase 2 did not resume: no 'last' checkpoint was found");
const info = await readCheckpointInfo(second.ckptPath, { storageOptions });
const bytes = info.tensors.reduce((n, t) => n + t.byteLength, 0);
const loops = restored.loops.fit_loop;
console.log(`Resumed from ${second.ckptPath}`);
console.log(`  what: epoch ${restored.epoch} (${loops.epoch_progress.current.processed} epochs done), global_step ${restored.global_step}, strata_version ${restored.strata_version}`);
console.log(`  ${info.tensors.length} tensors, ${(bytes / 1024).toFixed(1)} KiB: state_dict [${Object.keys(restored.state_dict).join(', ')}],`);
console.log(`  optimizer_states ${restored.optimizer_states?.length}, lr_schedulers ${restored.lr_schedulers?.length}, callbacks [${Object.keys(restored.callbacks ?? {}).join(', ')}], datamodule state [${Object.keys((restored.ClassificationDataModule as object | undefined) ?? {}).join(', ')}]`);
console.log(`Continued to epoch ${second.currentEpoch}, global step ${second.globalStep} in ${((performance.now() - resumedAt) / 1000).toFixed(1)} s: val_loss ${second.callbackMetrics.val_loss?.toFixed(4)}, val_acc ${second.callbackMetrics.val_acc?.toFixed(3)}`);
const phase2 = second.checkpointCallback!;
console.log(`best: ${phase2.bestModelPath} (val_loss ${phase2.bestModelScore?.toFixed(4)}); last: ${phase2.lastModelPath}`);
const csv = second.logger && 'metricsFile' in second.logger ? await (second.logger as { metricsFile(): Promise<string> }).metricsFile() : undefined;
if (csv) console.log(`metrics: ${csv}`);
