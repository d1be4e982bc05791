/** Structured JSON logs for the CI services: one pino logger per component. */
import pino from 'pino';

const root = pino({ level: process.env.LXCTS_LOG_LEVEL ?? 'info', base: { pid: process.pid } });

export type Logger = pino.Logger;

export function loggerFor(component: string): Logger {
  return root.child({ component });
}
