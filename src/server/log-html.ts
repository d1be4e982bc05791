/**
 * A build log as HTML, a piece at a time, each line with the time it was written.
 *
 * Why the times come from the log chunks and are not written into the log: the log users
 * download (`/api/builds/:id/log`, the worker's file, `ci logs`) stays byte for byte what
 * the build printed, so a tool that parses it, diffs two runs or checks it against the
 * worker's copy is not thrown off by a prefix it has to strip (GitHub Actions' raw logs
 * prefix every line with a timestamp, and every consumer then strips it). The workers
 * already send the log as numbered chunks that say when they were cut (log-chunks.ts), and
 * a chunk is cut at most CHUNK_FLUSH_MS (100 ms) after its first byte was written: so the
 * time of a line is the time of the chunk its first byte came in, early by at most that
 * much. The server keeps each chunk's time (server-store.ts `LogPage.times`); this module
 * shows it at the start of each line, as elapsed time since the build started (the full
 * time in the title), drawn by CSS from a data attribute: copying the log text from the
 * page copies the log, not the times.
 */
import { StringDecoder } from 'node:string_decoder';

import { CHUNK_FLUSH_MS } from '../ci/log-chunks';
import { AnsiToHtml } from './ansi';
import type { LogTime } from './server-store';

/** The stamps' style: drawn from data-t, so neither selected nor copied with the log. */
export const LOG_TIME_CSS = `.t::before{content:attr(data-t);color:#999;display:inline-block;min-width:5ch;margin-right:1ch;text-align:right;user-select:none}`;

/** `ms` as elapsed time: 0:05, 1:05, 1:01:05. */
export function elapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = String(total % 60).padStart(2, '0');
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

const NEWLINE = 0x0a;

/**
 * Turns log bytes into HTML, a piece at a time (UTF-8 characters and escape sequences may
 * be cut between pieces), with a time stamp before each line when the pieces' times are
 * given. `startedAt` (ms since the epoch) is what the stamps count from; `atLineStart` says
 * whether the first byte pushed starts a line (the log's start, or a byte after '\n').
 */
export class LogRenderer {
  readonly #decoder = new StringDecoder('utf8');
  readonly #ansi = new AnsiToHtml();
  #atLineStart: boolean;

  constructor(
    /** What the stamps count from (ms since the epoch); null: they show the time of day (UTC). */
    public startedAt: number | null = null,
    atLineStart = true,
  ) {
    this.#atLineStart = atLineStart;
  }

  /** The HTML of `bytes`, which start at `offset` in the log; `times` as LogPage's. */
  push(bytes: Buffer, offset = 0, times: readonly LogTime[] = []): string {
    let html = '';
    let mark = 0;
    for (let from = 0; from < bytes.length;) {
      if (this.#atLineStart && times.length > 0) {
        while (mark + 1 < times.length && (times[mark + 1] as LogTime).offset <= offset + from) mark += 1;
        html += this.#stamp((times[mark] as LogTime).at);
      }
      const newline = bytes.indexOf(NEWLINE, from);
      const end = newline < 0 ? bytes.length : newline + 1;
      html += this.#ansi.push(this.#decoder.write(bytes.subarray(from, end)));
      this.#atLineStart = newline >= 0;
      from = end;
    }
    return html;
  }

  #stamp(at: number): string {
    const date = new Date(at);
    // A chunk's time is the worker's word: one past what a Date can hold shows no stamp.
    if (Number.isNaN(date.getTime())) return '<span class="t" data-t=""></span>';
    const iso = date.toISOString();
    // Only digits, colons and ISO times: nothing here needs escaping.
    const shown = this.startedAt === null ? iso.slice(11, 19) : elapsed(at - this.startedAt);
    return `<span class="t" data-t="${shown}" title="${iso} (written up to ${CHUNK_FLUSH_MS} ms before)"></span>`;
  }
}
