/**
 * ProgressiveRolloutWorkflow: the new version is provisioned beside stable, traffic moves to it step by step
 * through the provider's routing, each step holds for its pause on a durable timer and passes its analysis
 * before the next. A failed analysis or an abort sends all traffic back to stable and scales the new version
 * down (status rolled_back, the failing measurement kept); promote skips the remaining pauses.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { RolloutActivities } from '../activities/rollout';
import {
  rolloutStatusQuery,
  type AnalysisResult,
  type Rollout,
  type RolloutEvent,
  type RolloutInput,
  type RolloutStatus,
  type RolloutStepRecord,
} from '../contracts/rollout';
import { ErrorCode, NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { planRollout, type PlannedStep } from '../shared/rollout-plan';
import { StatusKey } from '../shared/search-attributes';
import { RolloutControls } from './rollout-controls';

/** Routing and capacity changes: quick calls to the provider, retried until they land. */
const provider = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 10, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});
/** Measuring a window: probes and metric queries, a few seconds each. */
const measuring = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/** Going back to stable retries until it lands (unless the provider says it never can): a split must not stay. */
const undoing = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/** Events kept in the run (newest last); bounded so a long rollout's history stays small. */
const MAX_EVENTS = 200;

export async function progressiveRolloutWorkflow(input: RolloutInput): Promise<Rollout> {
  const now = () => new Date().toISOString();
  const state: Rollout = {
    id: input.id,
    service: input.service,
    version: input.version,
    strategy: input.strategy.type,
    status: 'provisioning',
    currentStep: 0,
    weight: 0,
    paused: false,
    promoted: false,
    steps: [],
    events: [],
    requestedBy: input.requestedBy,
    startedAt: now(),
  };
  const record = (e: Omit<RolloutEvent, 'at'>) => {
    state.events.push({ at: now(), ...e });
    if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  };
  const setStatus = (s: RolloutStatus) => {
    if (state.status === s) return;
    state.status = s;
    upsertSearchAttributes([{ key: StatusKey, value: s }]);
  };
  const controls = new RolloutControls(state, input.signed ?? false, record);
  setHandler(rolloutStatusQuery, () => state);
  controls.install();
  const target = { rolloutId: input.id, service: input.service, provider: input.provider, aws: input.aws };

  // Stable's capacity before the rollout: what an abort restores (rolling batches take instances from it).
  let stableCapacity = 0;
  let plan: PlannedStep[] = [];

  const aborted = () => controls.abort !== undefined;
  /** Holds while a person paused the rollout; false when an abort ended the hold. */
  const holdWhilePaused = async (rec: RolloutStepRecord): Promise<boolean> => {
    if (controls.paused && !aborted()) {
      const before = { status: state.status, step: rec.status };
      setStatus('paused');
      rec.status = 'paused';
      await condition(() => !controls.paused || aborted());
      setStatus(before.status);
      rec.status = before.step;
    }
    return !aborted();
  };

  /** Runs the step's analysis; an inconclusive one waits for a person (resume re-measures, promote accepts). */
  const analyse = async (p: PlannedStep, rec: RolloutStepRecord): Promise<AnalysisResult | undefined> => {
    for (;;) {
      setStatus('analyzing');
      rec.status = 'analyzing';
      const windowStartedAt = now();
      // The window is a durable timer; an abort ends it early, a pause does not stop the measurement.
      if (await condition(aborted, p.analysis!.windowMs)) return undefined;
      const result = await measuring.rolloutMeasure({
        ...target,
        version: input.version,
        weight: p.weight,
        windowMs: p.analysis!.windowMs,
        windowStartedAt,
        spec: p.analysis!.spec,
      });
      rec.analysis = result;
      record({
        kind: 'analysis',
        step: rec.index,
        weight: p.weight,
        detail: `${result.verdict}${result.reasons.length ? `: ${result.reasons.join('; ')}` : ''}`,
      });
      if (result.verdict !== 'inconclusive' || controls.promoted) return result;
      // Nobody can tell whether it is safe: a person decides.
      const resumes = controls.resumes;
      controls.paused = true;
      state.paused = true;
      setStatus('paused');
      rec.status = 'paused';
      await condition(() => controls.resumes !== resumes || controls.promoted || aborted());
      if (aborted()) return undefined;
      if (controls.promoted) return result;
    }
  };

  let failure: unknown;
  // Whether there may be something of ours to undo: from the moment the provision is asked for (it may land
  // even if an abort cancels the call), unless the provider refused it because another rollout owns the service.
  let provisioned = false;
  // An abort cancels the provider call in flight (a hung call must not hold the service on the new version).
  const walk = new CancellationScope();
  controls.onAbort = () => walk.cancel();
  try {
    await walk.run(async () => {
      provisioned = true;
      const snap = await provider.rolloutProvision({ ...target, version: input.version }).catch((err: unknown) => {
        if ((err as { cause?: { type?: string } }).cause?.type === ErrorCode.ROLLOUT_CONFLICT) provisioned = false;
        throw err;
      });
      state.stableVersion = snap.stable.version;
      stableCapacity = snap.stable.capacity;
      plan = planRollout(input.strategy, input.capacity ?? stableCapacity, stableCapacity);
      state.steps = plan.map((p, index) => ({
        index,
        weight: p.weight,
        canaryCapacity: p.candidateCapacity,
        pauseMs: p.pauseMs,
        manualGate: p.manualGate,
        status: 'pending',
      }));
      for (const [i, p] of plan.entries()) {
        const rec = state.steps[i];
        if (aborted()) break;
        state.currentStep = i;
        rec.status = 'running';
        rec.startedAt = now();
        setStatus('progressing');
        await provider.rolloutApplyStep({
          ...target,
          weight: p.weight,
          candidateCapacity: p.candidateCapacity,
          stableCapacity: p.stableCapacity,
        });
        state.weight = p.weight;
        rec.weightSetAt = now();
        record({
          kind: 'step',
          step: i,
          weight: p.weight,
          detail: `${p.weight} % on ${input.version} (${p.candidateCapacity} instances)`,
        });
        if (!(await holdWhilePaused(rec))) break;

        if (p.analysis) {
          const result = await analyse(p, rec);
          if (!result) break;
          if (result.verdict === 'fail') {
            controls.abort = { by: 'analysis', via: 'workflow', reason: result.reasons.join('; ') };
            record({
              kind: 'auto_abort',
              by: 'analysis',
              via: 'workflow',
              step: i,
              weight: p.weight,
              detail: controls.abort.reason,
            });
            rec.status = 'failed';
            break;
          }
          setStatus('progressing');
          rec.status = 'running';
        }
        if (!(await holdWhilePaused(rec))) break;

        if (p.pauseMs && !controls.promoted) {
          rec.status = 'paused';
          rec.pauseEndsAt = new Date(Date.now() + p.pauseMs).toISOString();
          // The pause is a durable timer: it survives worker restarts, and promote or abort end it at once.
          const interrupted = await condition(() => controls.promoted || aborted(), p.pauseMs);
          if (aborted()) break;
          if (interrupted) rec.status = 'skipped_pause';
        } else if (p.pauseMs) rec.status = 'skipped_pause';
        if (p.manualGate && !controls.promoted) {
          setStatus('awaiting_promotion');
          await condition(() => controls.promoted || aborted());
          if (aborted()) break;
          setStatus('progressing');
        }
        if (!(await holdWhilePaused(rec))) break;
        if (rec.status !== 'skipped_pause') rec.status = 'succeeded';
        rec.completedAt = now();
      }
    });
  } catch (err) {
    // Cancelled, or the provider refused a change: either way the service must end on a known version. The
    // cancellation an abort caused is the abort itself, not a failure.
    if (!(aborted() && isCancellation(err))) failure = err;
  }

  if (!aborted() && failure === undefined) {
    setStatus('completing');
    await provider.rolloutFinalize(target);
    state.weight = 100;
    state.completedAt = now();
    setStatus('completed');
    record({ kind: 'completed', weight: 100, detail: `${input.version} is stable` });
    await condition(allHandlersFinished);
    return state;
  }

  // Back to stable, even when the workflow itself is being cancelled.
  const at = state.currentStep;
  const rec = state.steps[at];
  if (rec && rec.status !== 'failed') rec.status = 'aborted';
  if (rec) rec.completedAt = now();
  setStatus('rolling_back');
  if (provisioned) {
    try {
      await CancellationScope.nonCancellable(() => undoing.rolloutRevert({ ...target, stableCapacity }));
    } catch (err) {
      // Leftover traffic on the new version must be visible, never swallowed.
      setStatus('failed');
      state.error = {
        code: 'ROLLOUT_STEP_FAILED',
        message: `could not return ${input.service} to stable: ${(err as Error).message}`,
      };
      throw err;
    }
  }
  state.weight = 0;
  state.completedAt = now();
  const abort = controls.abort;
  state.abort = {
    by: abort?.by ?? 'workflow',
    at: now(),
    reason:
      abort?.reason ?? (isCancellation(failure) ? 'rollout cancelled' : `step failed: ${(failure as Error)?.message}`),
    step: at,
    analysis: rec?.status === 'failed' ? rec.analysis : undefined,
  };
  record({
    kind: 'rolled_back',
    by: state.abort.by,
    step: at,
    weight: 0,
    detail: `all traffic back on ${state.stableVersion}`,
  });
  if (failure !== undefined) {
    setStatus('failed');
    const cause = (failure as { cause?: unknown }).cause;
    const typed =
      cause instanceof ApplicationFailure ? cause : failure instanceof ApplicationFailure ? failure : undefined;
    state.error = { code: typed?.type ?? 'ROLLOUT_STEP_FAILED', message: typed?.message ?? (failure as Error).message };
    await condition(allHandlersFinished);
    throw failure;
  }
  setStatus('rolled_back');
  await condition(allHandlersFinished);
  return state;
}
