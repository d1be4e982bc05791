/** A pino logger whose lines a test reads back (objects, one per line written). */
import { Writable } from 'node:stream';

import pino from 'pino';

export interface CapturedLog {
  log: pino.Logger;
  lines: Array<Record<string, unknown>>;
}

export function capturedLog(): CapturedLog {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}
