export { FaultProxy, ALL_FAULTS, faultOf, faultLabel } from './fault-proxy.js';
export type { Fault, FaultName, FaultSpec, FaultRule, FaultProxyOptions, FaultProxyStats, InjectedFault, RequestInfo } from './fault-proxy.js';
export { operationOf, s3Operation, gcsOperation, azureOperation } from './operations.js';
export type { Dialect, RequestFacts } from './operations.js';
export { scanForSecrets, CREDENTIAL_PATTERNS } from './secret-scan.js';
export type { SecretHit } from './secret-scan.js';
