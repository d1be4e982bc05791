/**
 * The self-hosted hook's delivery, which never loses a push: every push event is first
 * written to the repository's spool (`<repo>/lxcts/spool/`), then sent to the receiver,
 * oldest first, and removed only once the receiver answered 2xx. While the receiver is
 * unreachable (or answers 5xx, 408, 429 or 401) events stay spooled and are sent by the next
 * push, by `lxcts ci hook flush REPO`, or by the background retry that the hook starts.
 * Each event keeps its delivery id across attempts and the receiver de-duplicates by it, so
 * an event that reached the receiver just before a crash is still built once.
 *
 * Where to send and the secret come from the repository's own config (`lxcts.url`,
 * `lxcts.secretFile`, written by `ci hook install`, read through git.ts), read at send time:
 * moving the receiver or rotating the secret needs no change to what is spooled.
 *
 * The hook's outside systems stay here: the request to the receiver (sendPushEvent) and the
 * detached retrier (startRetrying).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { sign } from '@octokit/webhooks-methods';
import { z } from 'zod';

import { readConfigValue } from './git';
import { currentProcessIdentity, isProcessAlive } from './process-identity';

const spooledSchema = z.object({ delivery: z.string().uuid(), event: z.literal('push'), body: z.string(), spooledAt: z.number() });
type SpooledEvent = z.infer<typeof spooledSchema>;

export interface HookTarget {
  url: string;
  secretFile: string;
}

export interface FlushReport {
  delivered: number;
  /** Still spooled: the receiver could not take them now. */
  pending: number;
  /** Refused by the receiver for good (4xx other than 401, 408, 429): moved to lxcts/rejected/. */
  rejected: number;
  /** Why sending stopped, when it did. */
  error: string | null;
  /** One line per event sent or refused, for the pusher's terminal. */
  lines: string[];
}

/** The first retry waits this long; each next one twice as long, up to RETRY_MAX_MS. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_MAX_MS = 5 * 60_000;
/** How long the background retry keeps trying before it leaves events to the next push or flush. */
export const RETRY_FOR_MS = 24 * 3_600_000;
const SEND_TIMEOUT_MS = 10_000;
const LOCK_WAIT_MS = 15_000;

export class HookSpool {
  readonly root: string;
  readonly spool: string;
  readonly rejectedDir: string;
  #seq = 0;

  constructor(readonly repo: string) {
    this.root = path.join(repo, 'lxcts');
    this.spool = path.join(this.root, 'spool');
    this.rejectedDir = path.join(this.root, 'rejected');
  }

  /** Where to send, from the repository's config (written by `ci hook install`). */
  async target(): Promise<HookTarget> {
    const get = async (key: string): Promise<string> => {
      const value = await readConfigValue(path.join(this.repo, 'config'), key).catch(() => null);
      if (value === null) throw new Error(`${this.repo} has no ${key} in its git config: run lxcts ci hook install ${this.repo} --url URL --secret-file FILE`);
      return value;
    };
    return { url: await get('lxcts.url'), secretFile: await get('lxcts.secretFile') };
  }

  /** Writes a push event to the spool (atomically: a crash leaves the whole event or none). */
  add(body: string): string {
    fs.mkdirSync(this.spool, { recursive: true });
    const event: SpooledEvent = { delivery: randomUUID(), event: 'push', body, spooledAt: Date.now() };
    const name = `${String(event.spooledAt).padStart(15, '0')}-${String(process.pid).padStart(8, '0')}-${String(this.#seq++).padStart(4, '0')}-${event.delivery}.json`;
    const partial = path.join(this.spool, `.${name}`);
    fs.writeFileSync(partial, JSON.stringify(event), { mode: 0o600 });
    fs.renameSync(partial, path.join(this.spool, name));
    return event.delivery;
  }

  /** Spooled events, oldest first. */
  pending(): string[] {
    if (!fs.existsSync(this.spool)) return [];
    return fs
      .readdirSync(this.spool)
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .sort();
  }

  /**
   * Sends spooled events oldest first until one cannot be delivered now. One flush at a
   * time per repository (a lock file naming the flushing process; a dead holder's lock is
   * taken over). Returns null when another flush still held the lock after `waitMs`.
   */
  async flush(waitMs = LOCK_WAIT_MS): Promise<FlushReport | null> {
    const release = await this.lock('flush.lock', waitMs);
    if (!release) return null;
    try {
      return await this.#flush();
    } finally {
      release();
    }
  }

  async #flush(): Promise<FlushReport> {
    const report: FlushReport = { delivered: 0, pending: 0, rejected: 0, error: null, lines: [] };
    if (this.pending().length === 0) return report;
    let target: HookTarget;
    let secret: string;
    try {
      target = await this.target();
      secret = fs.readFileSync(target.secretFile, 'utf8').trim();
      if (!secret) throw new Error(`the secret file ${target.secretFile} is empty`);
    } catch (err) {
      return { ...report, pending: this.pending().length, error: (err as Error).message };
    }
    // Read the directory again after each event: events spooled meanwhile are sent too.
    for (let name = this.pending()[0]; name !== undefined; name = this.pending()[0]) {
      const file = path.join(this.spool, name);
      const event = spooledSchema.safeParse(parseJson(fs.readFileSync(file, 'utf8')));
      if (!event.success) {
        this.reject(name, 'not a spooled push event');
        report.rejected++;
        report.lines.push(`${name}: not a spooled push event; moved to ${this.rejectedDir}`);
        continue;
      }
      const { delivery, body } = event.data;
      const what = describe(body, delivery);
      let status: number;
      let answer: string;
      try {
        ({ status, answer } = await sendPushEvent(target.url, secret, delivery, body));
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        report.error = `${target.url} unreachable (${cause?.code ?? cause?.message ?? (err as Error).message})`;
        break;
      }
      if (status >= 200 && status < 300) {
        fs.rmSync(file, { force: true });
        report.delivered++;
        report.lines.push(`${what}: ${status} ${answer}`);
      } else if (status >= 500 || status === 408 || status === 429 || status === 401) {
        // The receiver's trouble (or a secret to fix), not the event's: keep it, in order.
        report.error = `${target.url} answered ${status} ${answer}`;
        break;
      } else {
        this.reject(name, `${status} ${answer}`);
        report.rejected++;
        report.lines.push(`${what}: refused by the receiver (${status} ${answer}); moved to ${this.rejectedDir}`);
      }
    }
    report.pending = this.pending().length;
    return report;
  }

  private reject(name: string, reason: string): void {
    fs.mkdirSync(this.rejectedDir, { recursive: true });
    fs.renameSync(path.join(this.spool, name), path.join(this.rejectedDir, name));
    fs.writeFileSync(path.join(this.rejectedDir, `${name}.reason`), `${reason}\n`);
  }

  /**
   * Keeps flushing with backoff (RETRY_FIRST_MS doubling to RETRY_MAX_MS) until the spool is
   * empty or `forMs` has passed. One retrier per repository: returns false at once when
   * another live process is already retrying.
   */
  async retry(forMs = RETRY_FOR_MS, onReport: (r: FlushReport) => void = () => undefined): Promise<boolean> {
    const release = await this.lock('retry.lock', 0);
    if (!release) return false;
    try {
      const deadline = Date.now() + forMs;
      for (let delay = RETRY_FIRST_MS; this.pending().length > 0 && Date.now() < deadline; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
        await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
        const report = await this.flush();
        if (report) onReport(report);
      }
      return true;
    } finally {
      release();
    }
  }

  /** Whether a background retrier of this repository is alive. */
  retrying(): boolean {
    const file = path.join(this.root, 'retry.lock');
    return fs.existsSync(file) && isProcessAlive(fs.readFileSync(file, 'utf8').trim());
  }

  /**
   * Starts `lxcts ci hook flush REPO --retry` detached (it outlives the push), unless one
   * runs already. `lxctsBin` is the lxcts the hook itself runs.
   */
  startRetrying(lxctsBin: string): void {
    if (this.retrying()) return;
    // Not git's environment: GIT_DIR and friends would point the child's git calls here.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GIT_')));
    const child = spawn(process.execPath, [lxctsBin, 'ci', 'hook', 'flush', this.repo, '--retry'], { detached: true, stdio: 'ignore', cwd: '/', env });
    child.unref();
  }

  /** An exclusive lock file holding this process's identity; a dead holder's is taken over. */
  private async lock(name: string, waitMs: number): Promise<(() => void) | null> {
    fs.mkdirSync(this.root, { recursive: true });
    const file = path.join(this.root, name);
    const me = currentProcessIdentity();
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        fs.writeFileSync(file, me, { flag: 'wx' });
        return () => {
          if (readOr(file) === me) fs.rmSync(file, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = readOr(file);
      if (holder !== null && !isProcessAlive(holder)) {
        // Rename first: of two processes taking over the same dead lock, only one wins.
        const stale = `${file}.stale-${process.pid}`;
        try {
          fs.renameSync(file, stale);
          fs.rmSync(stale, { force: true });
        } catch {
          // somebody else took it over first
        }
        continue;
      }
      if (Date.now() >= deadline) return null;
      await sleep(100);
    }
  }
}

/**
 * The one request the hook makes: a push event, signed as GitHub signs it, POSTed to the
 * receiver. Returns its status and the start of its answer; throws when it is unreachable.
 */
export async function sendPushEvent(url: string, secret: string, delivery: string, body: string): Promise<{ status: number; answer: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': await sign(secret, body),
    },
    body,
    signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
  });
  return { status: response.status, answer: (await response.text()).trim().slice(0, 300) };
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `refs/heads/main 1a2b3c4d5e6f` for messages, from the event's own body. */
function describe(body: string, delivery: string): string {
  const push = parseJson(body) as { ref?: unknown; after?: unknown } | undefined;
  const ref = typeof push?.ref === 'string' ? push.ref : '?';
  const after = typeof push?.after === 'string' ? push.after.slice(0, 12) : '?';
  return `${ref} ${after} (delivery ${delivery.slice(0, 8)})`;
}
