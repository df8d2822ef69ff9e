/**
 * Bookkeeping of a FailoverWorkflow run: stages, steps, compensations and events, kept in the `Failover`
 * the status query returns. Deterministic (workflow clock only), no I/O.
 */
import { CancellationScope, isCancellation, upsertSearchAttributes } from '@temporalio/workflow';
import { StatusKey } from '../shared/search-attributes';
import type {
  CompensationRecord,
  Failover,
  FailoverError,
  FailoverStage,
  FailoverStageName,
  FailoverStatus,
} from '../contracts/failover';
import { failureOf } from './failure';

const MAX_EVENTS = 200;

/** The cloud's own code and message; a cancellation reads as CANCELLED. */
export function errorOf(err: unknown): FailoverError {
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'failover cancelled' };
  return failureOf(err);
}

/**
 * When a compensation runs relative to traffic returning to the source: first everything the source needs to
 * serve (capacity, its database writable, the target's replica re-attached), then the traffic, and only then
 * what the target no longer needs once traffic has left it.
 */
export type UndoPhase = 'before_traffic' | 'traffic' | 'after_traffic';
const UNDO_PHASES: readonly UndoPhase[] = ['before_traffic', 'traffic', 'after_traffic'];

interface Compensation {
  name: string;
  stage: FailoverStageName;
  phase?: UndoPhase;
  run: () => Promise<{ detail: string; manual?: boolean }>;
}

/** Owns the `Failover` document: every mutation goes through here so timings and events stay consistent. */
export class FailoverRecorder {
  private readonly saga: Compensation[] = [];

  constructor(readonly f: Failover) {}

  now(): string {
    return new Date().toISOString();
  }

  event(level: 'info' | 'warn' | 'error', message: string): void {
    this.f.events.push({ ts: this.now(), level, message });
    if (this.f.events.length > MAX_EVENTS) this.f.events.splice(0, this.f.events.length - MAX_EVENTS);
    this.f.updatedAt = this.now();
  }

  setStatus(status: FailoverStatus, message?: string): void {
    this.f.status = status;
    this.event(
      status === 'failed' ? 'error' : status === 'needs_attention' ? 'warn' : 'info',
      message ?? `status → ${status}`,
    );
    upsertSearchAttributes([{ key: StatusKey, value: status }]);
  }

  stage(name: FailoverStageName): FailoverStage {
    return this.f.stages.find((s) => s.name === name)!;
  }

  /** Runs a stage: records start, end, duration; a step failure recorded as best effort leaves the stage failed but lets the run go on. */
  async runStage<T>(name: FailoverStageName, fn: (s: FailoverStage) => Promise<T>): Promise<T> {
    const s = this.stage(name);
    s.status = 'running';
    s.startedAt = this.now();
    this.event('info', `stage ${name} started`);
    try {
      const out = await fn(s);
      const soft = s.steps.find((x) => x.status === 'failed');
      s.status = soft ? 'failed' : 'succeeded';
      if (soft) {
        s.bestEffort = true;
        s.error = soft.error;
      }
      return out;
    } catch (err) {
      s.status = 'failed';
      s.error = errorOf(err);
      throw err;
    } finally {
      s.completedAt = this.now();
      s.durationMs = Date.parse(s.completedAt) - Date.parse(s.startedAt);
      this.event(
        s.status === 'failed' ? 'warn' : 'info',
        `stage ${name} ${s.status}${s.bestEffort ? ' (best effort, continuing)' : ''} in ${s.durationMs} ms`,
      );
    }
  }

  /** Records one activity call of a stage. With `bestEffort`, a failure is recorded and swallowed (emergency source steps). */
  async step<T extends { detail?: string }>(
    s: FailoverStage,
    name: string,
    fn: () => Promise<T>,
    bestEffort = false,
  ): Promise<T | undefined> {
    const rec = {
      name,
      status: 'running' as 'running' | 'succeeded' | 'failed',
      startedAt: this.now(),
      completedAt: undefined as string | undefined,
      detail: undefined as string | undefined,
      error: undefined as FailoverError | undefined,
    };
    s.steps.push(rec);
    try {
      const out = await fn();
      rec.status = 'succeeded';
      rec.detail = out.detail;
      if (out.detail) this.event('info', `${s.name}/${name}: ${out.detail}`);
      return out;
    } catch (err) {
      rec.status = 'failed';
      rec.error = errorOf(err);
      this.event(bestEffort ? 'warn' : 'error', `${s.name}/${name} failed: ${rec.error.message}`);
      if (bestEffort && !isCancellation(err)) return undefined;
      throw err;
    } finally {
      rec.completedAt = this.now();
    }
  }

  /** True when `step` of `stage` ran to success (a best-effort failure or a step never reached is false). */
  stepSucceeded(stage: FailoverStageName, step: string): boolean {
    return this.stage(stage).steps.some((x) => x.name === step && x.status === 'succeeded');
  }

  /**
   * The planned changes that did not happen, in plan order, as `<stage>/<step>: <what to do>` lines for the
   * operator who has to finish them (readiness, lock, lag and commit are the run's own bookkeeping, not changes).
   */
  unfinishedSteps(): string[] {
    const bookkeeping = ['readiness', 'acquire_lock', 'replication_lag', 'commit'];
    return this.f.plan
      .filter((a) => !bookkeeping.includes(a.step) && !this.stepSucceeded(a.stage, a.step))
      .map((a) => {
        const failed = this.stage(a.stage).steps.find((x) => x.name === a.step && x.status === 'failed');
        return `${a.stage}/${a.step}: ${a.description} (${failed ? `failed: ${failed.error?.message}` : 'not run'})`;
      });
  }

  /** Registers the undo of a step BEFORE the step runs: a step that failed half-way is undone too. */
  compensate(stage: FailoverStageName, name: string, run: Compensation['run'], phase?: UndoPhase): void {
    this.saga.push({ name, stage, run, phase });
  }

  /** How many compensations would run now. */
  get pendingCompensations(): number {
    return this.saga.length;
  }

  /** The compensations that would run now, in the order they would run (see runCompensations). */
  pendingUndo(byPhase: boolean): { stage: FailoverStageName; name: string }[] {
    return this.undoOrder(byPhase).map(({ stage, name }) => ({ stage, name }));
  }

  private undoOrder(byPhase: boolean): Compensation[] {
    const reversed = [...this.saga].reverse();
    if (!byPhase) return reversed;
    return UNDO_PHASES.flatMap((p) => reversed.filter((c) => (c.phase ?? 'before_traffic') === p));
  }

  /** After the commit nothing is undone any more. */
  clearCompensations(): void {
    this.saga.length = 0;
  }

  /**
   * Runs every registered compensation, even when the run is being cancelled, and records each outcome. In
   * reverse registration order; with `byPhase`, phase by phase (UndoPhase), in reverse order within a phase.
   */
  async runCompensations(byPhase = false): Promise<CompensationRecord[]> {
    const done: CompensationRecord[] = [];
    const order = this.undoOrder(byPhase);
    await CancellationScope.nonCancellable(async () => {
      for (const c of order) {
        const rec: CompensationRecord = { name: c.name, stage: c.stage, status: 'succeeded', startedAt: this.now() };
        this.f.compensations.push(rec);
        try {
          const out = await c.run();
          rec.status = out.manual ? 'manual' : 'succeeded';
          rec.detail = out.detail;
          this.event(out.manual ? 'warn' : 'info', `compensation ${c.name}: ${out.detail}`);
        } catch (err) {
          // Keep going: a later compensation may still restore most of the source; the failure stays visible.
          rec.status = 'failed';
          rec.error = errorOf(err);
          this.event('error', `compensation ${c.name} failed: ${rec.error.message}`);
        }
        rec.completedAt = this.now();
        done.push(rec);
      }
      this.saga.length = 0;
    });
    return done;
  }
}
