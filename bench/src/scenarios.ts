// What is measured: scenarios, their contenders and the targets Strata must reach (issue 7).
import type { StrataPackage } from './lib/build.js';

const MiB = 1024 * 1024;

export interface Sizes {
  /** Checkpoint scale: 1 = 1,025 MiB. */
  scale: number;
  smallCount: number;
  smallSize: number;
  overheadCount: number;
  overheadSize: number;
  trainerCheckpointBytes: number;
  trainerEvery: number;
  trainerSteps: number;
  /** Passes over 64K floats per training step: fixed CPU work, the same for every contender. */
  trainerPasses: number;
  /**
   * Checkpoint scale on GCS. fake-gcs-server's resumable uploads slow down with the object's size
   * (1 GiB took 165 s for Strata and 170 s for @google-cloud/storage, 6 MiB/s, in the warm-up of a
   * full run), so the full run uses a 128 MiB checkpoint there.
   */
  gcsScale: number;
  /**
   * Objects in the GCS small-object scenario. fake-gcs-server's memory backend slows down as objects
   * come and go: in a full run, 2,000 writes took 10 s in the warm-up, then 31–56 s, then 94–141 s.
   */
  gcsSmallCount: number;
  warmups: number;
  runs: number;
}

export const FULL: Sizes = {
  scale: 1,
  smallCount: 2000,
  smallSize: 4096,
  overheadCount: 10_000,
  overheadSize: 1024,
  trainerCheckpointBytes: 256 * MiB,
  trainerEvery: 50,
  trainerSteps: 200,
  trainerPasses: 500,
  gcsScale: 1 / 8,
  gcsSmallCount: 500,
  warmups: 1,
  runs: 5,
};

export const QUICK: Sizes = {
  scale: 1 / 64,
  smallCount: 100,
  smallSize: 4096,
  overheadCount: 300,
  overheadSize: 1024,
  trainerCheckpointBytes: 4 * MiB,
  trainerEvery: 10,
  trainerSteps: 30,
  trainerPasses: 20,
  gcsScale: 1 / 64,
  gcsSmallCount: 100,
  warmups: 0,
  runs: 1,
};

/** Same transfer settings for every contender that has them. */
export const TUNING = {
  partSize: 8 * MiB,
  uploadConcurrency: 4,
  /** Bulk operations and ranged downloads in flight (Strata's default `concurrency`). */
  concurrency: 16,
};

export interface Contender {
  id: string;
  label: string;
  runtime: 'node' | 'python';
  /** Node: module under dist/tasks; Python: ignored. */
  module: string;
  task: string;
  params?: Record<string, unknown>;
  /** Its failure is reported but does not fail the run (third-party contenders we only try). */
  optional?: boolean;
}

export type TargetKind =
  /** baseline median time ÷ contender median time ≥ limit (throughput ratio). */
  | 'speedup'
  /** contender median time ÷ baseline median time ≤ limit. */
  | 'timeRatio'
  /** contender median RSS growth ≤ limit bytes. */
  | 'rssGrowth'
  /** contender median extra[numerator] ÷ extra[denominator] ≤ limit. */
  | 'extraRatio';

export interface Target {
  text: string;
  phase: string;
  contender: string;
  kind: TargetKind;
  limit: number;
  baseline?: string;
  numerator?: string;
  denominator?: string;
}

export type StoreKind = 's3' | 'gcs' | 'azure';

export interface Scenario {
  id: string;
  title: string;
  what: string;
  /** The contender ratios are computed against. */
  baseline: string;
  contenders: Contender[];
  params: Record<string, unknown>;
  packages: StrataPackage[];
  store?: StoreKind | undefined;
  /** Run once before the measured runs (e.g. write the checkpoint a load scenario reads). */
  prepare?: { module: string; task: string; params?: Record<string, unknown> } | undefined;
  /** Start the store's server afresh before this scenario (an emulator that slows down as it fills). */
  freshServer?: boolean | undefined;
  targets: Target[];
  notes: string[];
}

const py = (id: string, label: string, task: string, params: Record<string, unknown> = {}): Contender => ({ id, label, runtime: 'python', module: 'py', task, params });
const node = (id: string, label: string, module: string, task: string, params: Record<string, unknown> = {}): Contender => ({ id, label, runtime: 'node', module, task, params });

function storeScenarios(store: StoreKind, sizes: Sizes, section: string): Scenario[] {
  const names = {
    s3: { name: 'S3', sdk: 'aws-sdk', sdkLabel: '@aws-sdk/client-s3 + lib-storage', sdkModule: 's3', fsspec: 's3fs', server: 'MinIO' },
    gcs: { name: 'GCS', sdk: 'gcs-sdk', sdkLabel: '@google-cloud/storage', sdkModule: 'gcs', fsspec: 'gcsfs', server: 'fake-gcs-server' },
    azure: { name: 'Azure', sdk: 'azure-sdk', sdkLabel: '@azure/storage-blob', sdkModule: 'azure', fsspec: 'adlfs', server: 'Azurite' },
  }[store];
  const pkg: StrataPackage = store === 's3' ? 'fs-s3' : store === 'gcs' ? 'fs-gcs' : 'fs-azure';
  const saveKey = (who: string) => `bench/save-${who}.safetensors`;
  const loadKey = 'bench/load.safetensors';
  const scale = store === 'gcs' ? sizes.gcsScale : sizes.scale;
  const smallCount = store === 'gcs' ? sizes.gcsSmallCount : sizes.smallCount;
  const scaleNotes =
    store === 'gcs' && scale !== sizes.scale
      ? [
          `Checkpoint of ${Math.round(1025 * scale)} MiB instead of 1 GiB: fake-gcs-server's resumable uploads slow down with the object's size (a 1 GiB save took 165 s with Strata and 170 s with @google-cloud/storage, about 6 MiB/s for both, and 191 s with gcsfs, in the warm-up of the full run), which would measure the emulator, not the clients.`,
        ]
      : [];
  const optionalOpendal = store !== 's3';
  const opendal = (c: Contender): Contender => (optionalOpendal ? { ...c, optional: true } : c);
  return [
    {
      id: `${section}a`,
      title: `Checkpoint save, ${names.name} (${names.server})`,
      what: `The ${scale === 1 ? '1 GiB' : `${Math.round(1025 * scale)} MiB`} checkpoint written to one object: Strata saveCheckpoint (streaming, hashed, multipart), the vendor SDK's own chunked upload, ${names.fsspec} pipe of safetensors bytes, and an OpenDAL writer.`,
      baseline: names.sdk,
      store,
      packages: ['fs-core', 'checkpoint', pkg],
      params: { scale, ...TUNING },
      contenders: [
        node('strata', 'Strata saveCheckpoint', 'strata-store', 'save', { key: saveKey('strata') }),
        node(names.sdk, store === 's3' ? 'lib-storage Upload' : names.sdkLabel, names.sdkModule, store === 's3' ? 'save-libstorage' : 'save', { key: saveKey('sdk') }),
        py(names.fsspec, `${names.fsspec} pipe (safetensors.save)`, 'store-save-pipe', { key: saveKey('py') }),
        opendal(node('opendal', 'OpenDAL writer', 'opendal', 'save', { key: saveKey('opendal') })),
      ],
      targets: [
        { text: `Strata ≥ 1.0× the throughput of ${store === 's3' ? 'lib-storage' : names.sdkLabel}`, phase: 'save', contender: 'strata', baseline: names.sdk, kind: 'speedup', limit: 1.0 },
        { text: `Strata ≥ 1.5× the throughput of ${names.fsspec} pipe`, phase: 'save', contender: 'strata', baseline: names.fsspec, kind: 'speedup', limit: 1.5 },
        { text: 'Strata peak RSS growth ≤ 128 MiB', phase: 'save', contender: 'strata', kind: 'rssGrowth', limit: 128 * MiB },
      ],
      notes: scaleNotes,
    },
    {
      id: `${section}b`,
      title: `Checkpoint load, ${names.name} (${names.server})`,
      what: `The whole checkpoint read back. Baseline: the vendor SDK fetching ${TUNING.partSize / MiB} MiB ranges, ${TUNING.concurrency} in parallel, straight into one buffer. For reference, the same download followed by the check loadCheckpoint always makes (the SHA-256 of every tensor against the digests in the metadata), as a user of the raw SDK would add it; and Strata's read path alone: the file in loadCheckpoint's 64 MiB ranges through fs.catRanges, with no check. RSS growth here is the peak beyond the loaded bytes themselves.`,
      baseline: names.sdk,
      store,
      packages: ['fs-core', 'checkpoint', pkg],
      params: { scale, key: loadKey, ...TUNING, downloadConcurrency: TUNING.concurrency },
      prepare: { module: 'strata-store', task: 'prepare' },
      contenders: [
        node('strata', 'Strata loadCheckpoint', 'strata-store', 'load'),
        node('strata-ranges', 'Strata catRanges, 64 MiB ranges, no SHA-256 check', 'strata-store', 'load-ranges'),
        node(names.sdk, `${names.sdkLabel.split(' ')[0]} ranged-parallel get`, names.sdkModule, 'load-ranged'),
        node(`${names.sdk}-sha256`, `${names.sdkLabel.split(' ')[0]} ranged-parallel get + SHA-256 check`, names.sdkModule, 'load-ranged', { checkDigests: true }),
        py(names.fsspec, `${names.fsspec} cat + safetensors.load`, 'store-load-cat'),
        opendal(node('opendal', 'OpenDAL read', 'opendal', 'load')),
      ],
      targets: [
        { text: 'Strata ≥ 1.0× the throughput of a ranged-parallel raw get', phase: 'load', contender: 'strata', baseline: names.sdk, kind: 'speedup', limit: 1.0 },
        { text: 'Strata peak RSS growth beyond the loaded bytes ≤ 128 MiB', phase: 'load', contender: 'strata', kind: 'rssGrowth', limit: 128 * MiB },
      ],
      notes: scaleNotes,
    },
    {
      id: store === 's3' ? '5' : `${section}c`,
      title: `Many small objects, ${names.name} (${names.server})`,
      what: `${smallCount} objects of ${sizes.smallSize / 1024} KiB: write all, list the prefix, read all back, ${TUNING.concurrency} requests in flight for every contender (fsspec: batch_size=${TUNING.concurrency}).`,
      baseline: names.sdk,
      store,
      packages: ['fs-core', pkg],
      params: { count: smallCount, size: sizes.smallSize, prefix: 'small', ...TUNING },
      freshServer: store === 'gcs',
      contenders: [
        node('strata', 'Strata pipe / find / cat', 'strata-store', 'small-objects'),
        node(names.sdk, `${names.sdkLabel.split(' ')[0]} put / list / get`, names.sdkModule, 'small-objects'),
        py(names.fsspec, `${names.fsspec} pipe(dict) / find / cat(list)`, 'small-objects'),
        opendal(node('opendal', 'OpenDAL write / list / read', 'opendal', 'small-objects')),
      ],
      targets: (['write', 'read'] as const).flatMap((phase) => [
        { text: `${phase}: Strata ≥ 2× the speed of ${names.fsspec}`, phase, contender: 'strata', baseline: names.fsspec, kind: 'speedup' as const, limit: 2 },
        { text: `${phase}: Strata ≥ 1.0× the speed of OpenDAL`, phase, contender: 'strata', baseline: 'opendal', kind: 'speedup' as const, limit: 1 },
        { text: `${phase}: Strata ≥ 0.9× the speed of the raw SDK`, phase, contender: 'strata', baseline: names.sdk, kind: 'speedup' as const, limit: 0.9 },
      ]),
      notes:
        store === 'gcs' && smallCount !== sizes.smallCount
          ? [
              `${smallCount} objects instead of ${sizes.smallCount}, on a freshly started server: fake-gcs-server's memory backend slows down as objects come and go (in a full run with 2,000 objects, the writes took 9–17 s per contender in the warm-up, then 31–56 s in round 1 and 94–141 s in round 2 for every contender alike, while the server's RSS grew to 1.2 GiB), which would measure the emulator, not the clients.`,
            ]
          : [],
    },
  ];
}

export function buildScenarios(sizes: Sizes, tmpDir: string): Scenario[] {
  const scale = sizes.scale;
  const [s3Save, s3Load, s3Small] = storeScenarios('s3', sizes, '3');
  const scenarios: Scenario[] = [
    {
      id: '1',
      title: 'Checkpoint save, local disk',
      what: 'The checkpoint (many tensors of mixed sizes) to a local file. Strata: temp file, fsync, rename, directory fsync. Baseline: the same bytes as a plain safetensors file written with node:fs and one fsync (no temp file, no rename). Python: safetensors.numpy.save inside an fsspec local transaction, fsynced before commit.',
      baseline: 'node-fs',
      packages: ['fs-core', 'checkpoint'],
      params: { scale },
      contenders: [
        node('strata', 'Strata saveCheckpoint', 'local', 'save-strata', { path: `${tmpDir}/s1/strata.safetensors` }),
        node('node-fs', 'node:fs write + fsync', 'local', 'save-rawfs', { path: `${tmpDir}/s1/raw.safetensors` }),
        py('python', 'safetensors save in fsspec transaction', 'save-safetensors-fsspec', { path: `${tmpDir}/s1/python.safetensors` }),
      ],
      targets: [{ text: 'Strata ≥ 0.85× the throughput of node:fs write + fsync', phase: 'save', contender: 'strata', baseline: 'node-fs', kind: 'speedup', limit: 0.85 }],
      notes: [],
    },
    {
      id: '2',
      title: 'Checkpoint load, local disk',
      what: 'The whole checkpoint file (written by Strata, in the page cache) loaded: Strata loadCheckpoint (header, ranged reads, SHA-256 check of every tensor) against fs.readFile of the same file; Python safetensors.numpy.load_file for reference.',
      baseline: 'node-fs',
      packages: ['fs-core', 'checkpoint'],
      params: { scale, path: `${tmpDir}/s2/ckpt.safetensors` },
      prepare: { module: 'local', task: 'prepare-checkpoint' },
      contenders: [
        node('strata', 'Strata loadCheckpoint', 'local', 'load-strata'),
        node('node-fs', 'fs.readFile', 'local', 'load-readfile'),
        py('python', 'safetensors.numpy.load_file', 'load-safetensors'),
      ],
      targets: [{ text: 'Strata ≥ 0.9× the throughput of fs.readFile', phase: 'load', contender: 'strata', baseline: 'node-fs', kind: 'speedup', limit: 0.9 }],
      notes: [],
    },
    s3Save!,
    s3Load!,
    {
      id: '4',
      title: 'Partial load, S3 (MinIO)',
      what: 'One tensor (64 MiB at full size) out of the checkpoint with loadCheckpoint(url, { keys }). Bytes read are counted at the HTTP layer: Content-Length of every GET response the server sent (an S3 client middleware), excluding the harness’s own header probe. Baseline: a full Strata load through the same counting client.',
      baseline: 'strata-full',
      store: 's3',
      packages: ['fs-core', 'checkpoint', 'fs-s3'],
      params: { scale, key: 'bench/load.safetensors', ...TUNING },
      prepare: { module: 'strata-store', task: 'prepare' },
      contenders: [
        node('strata-partial', 'Strata loadCheckpoint { keys }', 's3', 'load-partial-strata'),
        node('strata-full', 'Strata loadCheckpoint (all)', 's3', 'load-full-strata'),
        node('aws-sdk', 'aws-sdk: prefix, header, one range', 's3', 'load-partial-sdk'),
      ],
      targets: [
        { text: 'bytes read ≤ 1.05× (tensor + header)', phase: 'load', contender: 'strata-partial', kind: 'extraRatio', numerator: 'serverBytes', denominator: 'neededBytes', limit: 1.05 },
        { text: 'time ≤ 0.15× a full load', phase: 'load', contender: 'strata-partial', baseline: 'strata-full', kind: 'timeRatio', limit: 0.15 },
      ],
      notes: [],
    },
    s3Small!,
    {
      id: '6a',
      title: 'Abstraction overhead, local files',
      what: `${sizes.overheadCount} sequential pipe calls, then ${sizes.overheadCount} sequential cat calls, of ${sizes.overheadSize} B files in 100 directories. Baseline: node:fs/promises doing what Strata's pipe guarantees (temp file, write, fsync, rename, directory fsync) and readFile. Plain writeFile (no temp file, no fsync, not crash-safe) is shown for reference.`,
      baseline: 'node-fs',
      packages: ['fs-core'],
      params: { count: sizes.overheadCount, size: sizes.overheadSize, dir: `${tmpDir}/s6` },
      contenders: [
        node('strata', 'Strata file pipe / cat', 'local', 'overhead-strata-file'),
        node('node-fs', 'node:fs/promises atomic write / readFile', 'local', 'overhead-raw-atomic'),
        node('node-fs-plain', 'node:fs/promises writeFile / readFile (no fsync)', 'local', 'overhead-raw-plain'),
      ],
      targets: [{ text: 'Strata ≤ 1.15× the time of node:fs/promises (same guarantees)', phase: 'total', contender: 'strata', baseline: 'node-fs', kind: 'timeRatio', limit: 1.15 }],
      notes: [],
    },
    {
      id: '6b',
      title: 'Abstraction overhead, memory',
      what: `${sizes.overheadCount} sequential pipe calls, then ${sizes.overheadCount} sequential cat calls, of ${sizes.overheadSize} B files, on Strata's memory filesystem against raw memfs.`,
      baseline: 'memfs',
      packages: ['fs-core'],
      params: { count: sizes.overheadCount, size: sizes.overheadSize },
      contenders: [node('strata', 'Strata memory pipe / cat', 'local', 'overhead-strata-memory'), node('memfs', 'memfs promises writeFile / readFile', 'local', 'overhead-memfs')],
      targets: [{ text: 'Strata ≤ 1.15× the time of memfs', phase: 'total', contender: 'strata', baseline: 'memfs', kind: 'timeRatio', limit: 1.15 }],
      notes: [],
    },
    {
      id: '7',
      title: 'Async checkpointing in the trainer',
      what: `${sizes.trainerSteps} training steps of a module with ${sizes.trainerCheckpointBytes / MiB} MiB of parameters (each step a fixed ${sizes.trainerPasses} passes over 64K floats of CPU work), ModelCheckpoint every ${sizes.trainerEvery} steps to local disk through AsyncCheckpointIO, against checkpointing off. Step time is the wall time from the start of the first step to the end of the last, ÷ steps: checkpoint work between steps (snapshots, synchronous saves, background hashing and writing on the event loop) counts; "fit incl. last save" adds the wait for the last save after training. CPU is the process's CPU time in all its threads. Synchronous FsCheckpointIO is shown for reference.`,
      baseline: 'off',
      packages: ['fs-core', 'checkpoint', 'trainer'],
      params: {
        steps: sizes.trainerSteps,
        every: sizes.trainerEvery,
        checkpointBytes: sizes.trainerCheckpointBytes,
        passes: sizes.trainerPasses,
        dir: `${tmpDir}/s7`,
      },
      contenders: [
        node('off', 'checkpointing off', 'trainer', 'train', { mode: 'off' }),
        node('async', 'AsyncCheckpointIO', 'trainer', 'train', { mode: 'async' }),
        node('sync', 'FsCheckpointIO (synchronous)', 'trainer', 'train', { mode: 'sync' }),
      ],
      targets: [{ text: 'step time with AsyncCheckpointIO ≤ 1.10× checkpointing off', phase: 'train', contender: 'async', baseline: 'off', kind: 'timeRatio', limit: 1.1 }],
      notes:
        sizes.scale === 1
          ? [
              'Step work matters: with 100 passes per step (17 ms steps) a full run before the fifth session measured AsyncCheckpointIO at 1.92× and synchronous FsCheckpointIO at 2.26× the step time with checkpointing off; since the trainer gives the event loop a turn between steps and removals are queued, two runs of a throw-away script with the same module measured AsyncCheckpointIO at 1.20× and 1.33×. There, each 256 MiB save needs 1.35–1.67 s to write and fsync on this disk (plus 0.2–0.4 s of SHA-256 and 0.04–0.6 s to snapshot, measured separately), longer than the 0.86 s of training between saves, so saves queue (maxPendingSaves 2) and training waits for the disk. 500 passes (~85 ms steps; a CPU forward and backward pass of a 64M-parameter model takes longer) leave time to hide the I/O.',
            ]
          : [],
    },
    ...storeScenarios('gcs', sizes, '8-gcs-'),
    ...storeScenarios('azure', sizes, '8-azure-'),
  ];
  return scenarios;
}
