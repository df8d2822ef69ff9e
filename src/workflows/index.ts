/** Every workflow, re-exported by name for the worker's bundler (no `export *`: names are wire names). */
export { deploymentWorkflow } from './deployment';
export { rollbackWorkflow } from './rollback';
export { destroyWorkflow } from './destroy';
export { stackLockWorkflow } from './stack-lock';
export { driftScanWorkflow } from './drift-scan';
export { failoverWorkflow } from './failover';
export { failoverMonitorWorkflow } from './failover-monitor';
export { releaseWorkflow } from './release';
export { progressiveRolloutWorkflow } from './rollout';
