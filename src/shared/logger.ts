/** Structured JSON logs (pino). `LOG_LEVEL` sets the level; tests keep it quiet. */
import pino, { type Logger } from 'pino';

export function createLogger(component: string): Logger {
  const level = process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' || process.env.JEST_WORKER_ID ? 'silent' : 'info');
  return pino({ level, base: { component } });
}

export type { Logger };
