/**
 * The workers-and-queue view:
 *
 *   GET /queue        HTML: nsqds, job channels with their workers, waiting pushes and why each waits
 *   GET /api/queue    the same as JSON
 *
 * Each request takes nsqd's stats (a reading shared for a second, nsq-readings.ts) and explains every job channel of
 * the push topic (queue-explain.ts). Workers are nsqd's clients of those channels; the ones
 * seen by an earlier reading within WORKERS_SEEN_MS stay listed (not connected, last seen),
 * and so do the channels, so that a push waiting while nsqd is down says so.
 */
import { Hono } from 'hono';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

import type { NsqReading, NsqReadings } from './nsq-readings';
import { page } from './pages';
import type { PushQueue, SeenPush } from './push-queue';
import { channelReason, type ChannelView, channelViews, type QueueReason, REASON_TEXT, type WorkerView } from './queue-explain';

/** How long a worker no longer connected stays on the page. */
export const WORKERS_SEEN_MS = 60 * 60 * 1000;
/** The most workers listed (the ones seen longest ago are dropped first). */
const MAX_WORKERS = 1000;
/**
 * The most job channels explained and the most waiting pushes listed. Anyone who can reach
 * nsqd can make channels on the push topic, and each push is explained per channel: without
 * a bound, 10,000 pushes times a flood of channels made one page of millions of rows.
 * Channels with workers come first (those are the jobs), then the deepest.
 */
const MAX_CHANNELS = 200;
const MAX_WAITING = 500;

export interface SeenWorker extends WorkerView {
  nsqd: string;
  channel: string;
  connected: boolean;
  /** ISO time of the last reading that showed it. */
  lastSeen: string;
}

export interface QueueView {
  at: string;
  topic: string;
  nsqds: Array<{ nsqd: string; up: boolean; error?: string }>;
  problem?: string;
  channels: ChannelView[];
  workers: SeenWorker[];
  waiting: Array<{ push: SeenPush; channels: Array<{ channel: string; reason: QueueReason; why: string }> }>;
  /** How many channels and waiting pushes were left out of the lists above (the bounds). */
  notShown: { channels: number; waiting: number };
}

export interface QueueOptions {
  /** nsqd's stats, shared with /metrics and between requests. */
  nsq: NsqReadings;
  /** The push topic (the receiver's --topic). */
  topic: string;
  pushes: PushQueue;
}

/** Reads nsqd and explains the queue; remembers the workers it saw. */
export class QueueWatch {
  readonly #seen = new Map<string, { worker: SeenWorker; at: number }>();
  /** Job channels seen by a reading, and when: a push still waits on them while nsqd cannot be read. */
  readonly #channels = new Map<string, number>();

  constructor(private readonly o: QueueOptions) {}

  async view(): Promise<QueueView> {
    const reading = await this.o.nsq.read(this.o.topic);
    return this.explain(reading);
  }

  /** The view of one reading (separate from reading nsqd for the tests' sake). */
  explain(reading: NsqReading): QueueView {
    const all = channelViews(reading, this.o.topic);
    const channels = [...all].sort((a, b) => Math.sign(b.workers.length) - Math.sign(a.workers.length) || b.depth - a.depth).slice(0, MAX_CHANNELS);
    const names = [...new Set(channels.map((c) => c.channel))];
    const allUp = reading.nsqds.length > 0 && reading.nsqds.every((n) => n.up);
    for (const name of names) {
      if (allUp && channels.filter((c) => c.channel === name).every((c) => c.reason === 'empty')) this.o.pushes.noteChannelEmpty(name, reading.at);
    }
    for (const c of channels) {
      for (const w of c.workers) {
        const worker = { ...w, nsqd: c.nsqd, channel: c.channel, connected: true, lastSeen: new Date(reading.at).toISOString() };
        const key = `${c.nsqd}\0${c.channel}\0${w.clientId}\0${w.remoteAddress}`;
        // Re-inserted, so that the Map's order is oldest-seen first.
        this.#seen.delete(key);
        this.#seen.set(key, { worker, at: reading.at });
      }
    }
    // A worker reconnecting all hour long (a new port each time) must not grow this without end.
    for (const key of this.#seen.keys()) {
      if (this.#seen.size <= MAX_WORKERS) break;
      this.#seen.delete(key);
    }
    const workers: SeenWorker[] = [];
    for (const [key, { worker, at }] of this.#seen) {
      if (reading.at - at > WORKERS_SEEN_MS) this.#seen.delete(key);
      else workers.push(at === reading.at ? worker : { ...worker, connected: false });
    }
    // While nsqd cannot be read, pushes still wait on the channels an earlier reading showed.
    for (const name of names) this.#channels.set(name, reading.at);
    for (const [name, at] of this.#channels) if (reading.at - at > WORKERS_SEEN_MS || this.#channels.size > MAX_CHANNELS) this.#channels.delete(name);
    const known = allUp ? names : [...this.#channels.keys()];
    const waiting = this.o.pushes.waiting(known).filter((w) => w.channels.some((channel) => channelReason(channels, reading, channel) !== 'empty'));
    const shown = waiting.slice(0, MAX_WAITING).map(({ push, channels: on }) => ({
      push,
      channels: on.map((channel) => {
        const reason = channelReason(channels, reading, channel);
        return { channel, reason, why: REASON_TEXT[reason] };
      }),
    }));
    return {
      at: new Date(reading.at).toISOString(),
      topic: this.o.topic,
      nsqds: reading.nsqds.map(({ nsqd, up, error }) => ({ nsqd, up, ...(error ? { error } : {}) })),
      ...(reading.problem ? { problem: reading.problem } : {}),
      channels,
      workers,
      waiting: shown,
      notShown: { channels: all.length - channels.length, waiting: waiting.length - shown.length },
    };
  }
}

type Html = HtmlEscapedString;

const since = (iso: string) => iso.replace('T', ' ').slice(0, 19);

function render(v: QueueView): Html {
  return html`<h1>Workers and queue</h1>
    <p>Push topic <code>${v.topic}</code>, read ${since(v.at)} UTC. <a href="/api/queue">JSON</a></p>
    ${v.problem ? html`<p class="s-error">${v.problem}</p>` : ''}
    <h2>nsqd</h2>
    <ul>
      ${v.nsqds.map((n) => html`<li><code>${n.nsqd}</code>: ${n.up ? html`<span class="s-success">up</span>` : html`<span class="s-error">unreachable</span> ${n.error ?? ''}`}</li>`)}
    </ul>
    <h2>Waiting pushes</h2>
    ${
      v.waiting.length === 0
        ? html`<p>None waiting that this server saw.</p>`
        : html`<table>
            <tr>
              <th>repository</th>
              <th>ref</th>
              <th>commit</th>
              <th>pushed by</th>
              <th>received (UTC)</th>
              <th>why it waits</th>
            </tr>
            ${v.waiting.map(
              ({ push, channels }) =>
                html`<tr>
                  <td>${push.repo}</td>
                  <td>${push.ref}</td>
                  <td><code title="${push.after}">${push.after.slice(0, 12)}</code></td>
                  <td>${push.pusher}</td>
                  <td>${since(new Date(push.receivedAt).toISOString())}</td>
                  <td>
                    <ul>
                      ${channels.map((c) => html`<li data-reason="${c.reason}"><code>${c.channel}</code>: ${c.why}</li>`)}
                    </ul>
                  </td>
                </tr>`,
            )}
          </table>`
    }
    ${v.notShown.waiting > 0 ? html`<p>And ${v.notShown.waiting} more waiting pushes, not listed (the oldest ${MAX_WAITING} are).</p>` : ''}
    <h2>Job channels</h2>
    ${
      v.channels.length === 0
        ? html`<p>No job channel on <code>${v.topic}</code> yet.</p>`
        : html`<table>
            <tr>
              <th>channel</th>
              <th>nsqd</th>
              <th>waiting</th>
              <th>in flight</th>
              <th>deferred</th>
              <th>workers</th>
              <th>state</th>
            </tr>
            ${v.channels.map(
              (c) =>
                html`<tr>
                  <td><code>${c.channel}</code>${c.paused ? ' (paused)' : ''}</td>
                  <td><code>${c.nsqd}</code></td>
                  <td>${c.depth}</td>
                  <td>${c.inFlight}</td>
                  <td>${c.deferred}</td>
                  <td>${c.workers.length}</td>
                  <td data-reason="${c.reason}">${c.why}</td>
                </tr>`,
            )}
          </table>`
    }
    ${v.notShown.channels > 0 ? html`<p>And ${v.notShown.channels} more channels on <code>${v.topic}</code>, not listed (those with workers and the deepest are).</p>` : ''}
    <h2>Workers seen in the last hour</h2>
    ${
      v.workers.length === 0
        ? html`<p>No worker seen.</p>`
        : html`<table>
            <tr>
              <th>host</th>
              <th>client</th>
              <th>channel</th>
              <th>in flight / ready</th>
              <th>connected since (UTC)</th>
              <th>now</th>
            </tr>
            ${v.workers.map(
              (w) =>
                html`<tr>
                  <td>${w.hostname}</td>
                  <td><code>${w.clientId}</code> ${w.remoteAddress}</td>
                  <td><code>${w.channel}</code></td>
                  <td>${w.inFlight} / ${w.ready}</td>
                  <td>${since(w.connectedAt)}</td>
                  <td>${w.connected ? 'connected' : html`gone (last seen ${since(w.lastSeen)})`}</td>
                </tr>`,
            )}
          </table>`
    }` as Html;
}

export function queueApp(watch: QueueWatch): Hono {
  const app = new Hono();
  app.get('/api/queue', async (c) => c.json(await watch.view()));
  app.get('/queue', async (c) => c.html(page('Workers and queue', render(await watch.view()))));
  return app;
}
