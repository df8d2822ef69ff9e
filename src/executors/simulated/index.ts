/** The simulated multi-provider cloud executor. */
export { createSimulatedExecutor, type SimulatedExecutorOptions } from './simulated-executor';
export { SimulatedCloud } from './persistence';
export { DEFAULT_PROVIDERS, type AvailabilityCheck } from './providers';
export type { PlanDocument, Reality, SimResource, SimState } from './model';
