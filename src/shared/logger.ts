/** Structured JSON logs (pino). `LOG_LEVEL` sets the level; tests keep it quiet. */
import pino, { type Logger } from 'pino';

/**
 * A logger for `component`. `STRATA_LOG_FILE` sends the lines to that file (appended, written synchronously)
 * instead of stdout: for a supervisor that collects files, and for tests that read back what was logged.
 */
export function createLogger(component: string): Logger {
  const level =
    process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' || process.env.JEST_WORKER_ID ? 'silent' : 'info');
  const file = process.env.STRATA_LOG_FILE;
  const destination = file ? pino.destination({ dest: file, append: true, sync: true, mkdir: true }) : undefined;
  return destination ? pino({ level, base: { component } }, destination) : pino({ level, base: { component } });
}

export type { Logger };
