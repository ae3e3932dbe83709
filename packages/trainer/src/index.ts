export { Trainer, type TrainerOptions, type FitOptions, type TrainerStatus } from './trainer.js';
export {
  Module,
  type TrainingStepOutput,
  type StepResult,
  type OptimizerConfig,
  type OptimizerLRSchedulerConfig,
  type LRSchedulerConfig,
  type Awaitable,
} from './module.js';
export { Callback } from './callback.js';
export { DataModule } from './datamodule.js';
export { ModelCheckpoint, type ModelCheckpointOptions } from './model-checkpoint.js';
export { EarlyStopping, type EarlyStoppingOptions } from './early-stopping.js';
export { ProgressBar, type ProgressBarOptions } from './progress.js';
export { CSVLogger, type CSVLoggerOptions, type Logger } from './loggers.js';
export { Optimizer, SGD, Adam, type SGDOptions, type AdamOptions, type NamedParameters, type ParamGroupSpec, type Gradients } from './optim.js';
export { LRScheduler, StepLR, type StepLROptions } from './scheduler.js';
export { DataLoader, arrayDataset, type Dataset, type DataLoaderLike, type DataLoaderOptions, type Loader } from './data.js';
export { Rng, mixSeed } from './rng.js';
export { tensorF32, cloneF32, f32Values, isTensor, numel, type F32Tensor } from './tensor.js';
export type { Tensor } from '@strata/checkpoint';
export { formatCheckpointName } from './format.js';
export { resolveCheckpointPath } from './ckpt-path.js';
export { normalizeUrl, joinUrl } from './urls.js';
export type { LogOptions } from './metrics.js';
export { STRATA_VERSION } from './version.js';
export type { CheckpointDict, LoopsState, LoadStateDictResult, OptimizerStateDict, SchedulerStateDict } from './types.js';
export { MLPClassifier, type MLPClassifierOptions } from './models/mlp.js';
export { LinearRegression, type LinearRegressionOptions } from './models/linear-regression.js';
export { FineTuneClassifier, type FineTuneClassifierOptions } from './models/fine-tune.js';
export {
  ClassificationDataModule,
  makeClassificationData,
  makeRegressionData,
  regressionLoader,
  type ClassificationBatch,
  type RegressionBatch,
  type ClassificationDataModuleOptions,
} from './models/data.js';
