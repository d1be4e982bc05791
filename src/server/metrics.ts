/**
 * Prometheus metrics (prom-client), on a registry of this server's own (never the global
 * one: two servers in one process, or a test's, do not mix their numbers):
 *
 *   lxcts_builds{status,job}                          builds in the store, read at scrape time
 *   lxcts_build_duration_seconds{job,status}          histogram: started → finished
 *   lxcts_queue_wait_seconds{job}                     histogram: push received → build started
 *   lxcts_nsqd_up{nsqd}                               1 when nsqd's stats could be read
 *   lxcts_nsq_channel_depth{nsqd,topic,channel}       messages waiting (memory and disk)
 *   lxcts_nsq_channel_in_flight{nsqd,topic,channel}   handed to a consumer, not finished
 *   lxcts_nsq_channel_deferred{nsqd,topic,channel}    requeued with a delay
 *   lxcts_nsq_channel_clients{nsqd,topic,channel}     consumers connected
 *   lxcts_nsq_messages_refused_total{topic,reason}    messages dropped unread: unsigned or a bad seal (message-seal.ts)
 *
 * The histograms are observed once per build, when the store first shows it started or
 * finished (the build's row, not the event, decides: a replayed or reordered event finds
 * the build already counted). They count what this process saw since it started, as
 * Prometheus expects of a histogram. The queue wait needs the push's time: it is observed
 * for the builds whose push the server saw (push-queue.ts). Ephemeral channels (the
 * workers' supersede watchers, the server's own) are left out: their names are random per
 * process and would make new series at every restart.
 *
 * Anyone who can reach nsqd's HTTP port can create topics and channels, each of which would
 * be series too. So the channel gauges cover only the server's own topics (the push topic,
 * lxcts.builds, lxcts.logs, lxcts.control: one nsqd reading each, nsq-readings.ts), and at
 * most MAX_CHANNELS_PER_TOPIC channels of each: the ones with consumers first, then the ones
 * holding messages (a name made over HTTP has neither), then by name.
 *
 * Job names come from the events topic, where whoever can publish to nsqd writes: each
 * new name would be new series, in this process (histograms are never reset) and in
 * Prometheus. So at most MAX_JOB_LABELS jobs have a label of their own, the jobs with the
 * most builds in the store when the server starts first, then new ones as they come; the
 * builds of any other job are counted under job="(other)" (never a job name: `(` is not
 * allowed in one).
 */
import { Hono } from 'hono';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import { isFinishedOnServer } from '../ci/build-status';
import { CONTROL_TOPIC } from '../ci/control-message';
import { LOGS_TOPIC } from '../ci/log-chunks';
import type { MessageSeal } from '../ci/message-seal';
import type { NsqdChannelStats } from '../ci/nsq-api';
import { PUSH_TOPIC } from '../ci/push-event';
import { EVENTS_TOPIC } from './ingest';
import type { LiveStore } from './live-store';
import type { NsqReadings } from './nsq-readings';
import type { PushQueue } from './push-queue';
import type { ServerBuild } from './server-store';

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
const WAIT_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600];
/** Builds remembered as counted; far more than are ever in flight at once. */
const MAX_REMEMBERED = 20_000;
/** Jobs with series of their own; far more than a CI runs. */
export const MAX_JOB_LABELS = 50;
export const OTHER_JOBS = '(other)';
/** Channels with series of their own, per topic; the server's topics have a handful. */
export const MAX_CHANNELS_PER_TOPIC = 50;

/** The job label of each job name: its own for the first MAX_JOB_LABELS, then OTHER_JOBS. */
class JobLabels {
  readonly #own = new Set<string>();

  label(job: string): string {
    if (this.#own.has(job)) return job;
    if (this.#own.size >= MAX_JOB_LABELS) return OTHER_JOBS;
    this.#own.add(job);
    return job;
  }
}

export interface MetricsOptions {
  store: LiveStore;
  /** nsqd's stats, shared with /queue and between scrapes. */
  nsq: NsqReadings;
  /** The workers' push topic, one of the topics whose channels are gauged (default lxcts.pushes). */
  pushTopic?: string;
  /** Pushes the server saw, for the queue wait; none observed without it. */
  pushes?: PushQueue;
  /** The seal the server's consumers open messages with: what it refused is counted. */
  seal?: MessageSeal;
}

const isFinished = (b: ServerBuild) => isFinishedOnServer(b.status);

const seconds = (from: number, to: number) => Math.max(0, (to - from) / 1000);

export class ServerMetrics {
  readonly registry = new Registry();
  /** Build keys whose start (queue wait) or end (duration) has been observed. */
  readonly #started = new Set<string>();
  readonly #finished = new Set<string>();
  readonly #duration: Histogram<'job' | 'status'>;
  readonly #wait: Histogram<'job'>;
  readonly #nsqdUp: Gauge<'nsqd'>;
  readonly #depth: Gauge<'nsqd' | 'topic' | 'channel'>;
  readonly #inFlight: Gauge<'nsqd' | 'topic' | 'channel'>;
  readonly #deferred: Gauge<'nsqd' | 'topic' | 'channel'>;
  readonly #clients: Gauge<'nsqd' | 'topic' | 'channel'>;
  readonly #onChange: (key: string) => void;

  readonly #jobs = new JobLabels();
  /** The server's own topics: the only ones whose channels are gauged. */
  readonly #topics: readonly string[];

  constructor(private readonly o: MetricsOptions) {
    this.#topics = [...new Set([o.pushTopic ?? PUSH_TOPIC, EVENTS_TOPIC, LOGS_TOPIC, CONTROL_TOPIC])];
    const registers = [this.registry];
    const jobs = this.#jobs;
    // The jobs of the store's history first: names sent later cannot take their labels.
    const history = new Map<string, number>();
    for (const row of o.store.countByStatusAndJob()) history.set(row.job, (history.get(row.job) ?? 0) + row.count);
    for (const [job] of [...history].sort((a, b) => b[1] - a[1])) jobs.label(job);
    new Gauge({
      name: 'lxcts_builds',
      help: 'Builds in the server store, by status and job',
      labelNames: ['status', 'job'] as const,
      registers,
      collect() {
        this.reset();
        for (const row of o.store.countByStatusAndJob()) this.inc({ status: row.status, job: jobs.label(row.job) }, row.count);
      },
    });
    this.#duration = new Histogram({
      name: 'lxcts_build_duration_seconds',
      help: 'How long builds ran, started to finished, by job and final status',
      labelNames: ['job', 'status'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#wait = new Histogram({
      name: 'lxcts_queue_wait_seconds',
      help: 'From the push received to its build started, by job (builds whose push the server saw)',
      labelNames: ['job'] as const,
      buckets: WAIT_BUCKETS,
      registers,
    });
    const channel = ['nsqd', 'topic', 'channel'] as const;
    this.#nsqdUp = new Gauge({
      name: 'lxcts_nsqd_up',
      help: "1 when nsqd's stats could be read, 0 when not (nsqd=unknown: nsqlookupd could not name one)",
      labelNames: ['nsqd'] as const,
      registers,
    });
    this.#depth = new Gauge({ name: 'lxcts_nsq_channel_depth', help: 'Messages waiting in an nsqd channel', labelNames: channel, registers });
    this.#inFlight = new Gauge({ name: 'lxcts_nsq_channel_in_flight', help: 'Messages handed to a consumer and not finished', labelNames: channel, registers });
    this.#deferred = new Gauge({ name: 'lxcts_nsq_channel_deferred', help: 'Messages requeued with a delay', labelNames: channel, registers });
    this.#clients = new Gauge({ name: 'lxcts_nsq_channel_clients', help: 'Consumers connected to an nsqd channel', labelNames: channel, registers });
    const seal = o.seal;
    new Counter({
      name: 'lxcts_nsq_messages_refused_total',
      help: 'Messages read from nsqd and dropped unread: without the lxcts seal, or with one that does not verify (by topic and reason)',
      labelNames: ['topic', 'reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const r of seal?.refusals() ?? []) this.inc({ topic: r.topic, reason: r.reason }, r.count);
      },
    });
    this.#onChange = (key) => this.observe(key);
    o.store.changes.on('build', this.#onChange);
  }

  /**
   * The exposition: nsqd is read once per topic (prom-client collects the metrics
   * concurrently, so the five nsq gauges are set here, from those readings, before it runs),
   * then every metric.
   */
  async scrape(): Promise<string> {
    const readings = await Promise.all(this.#topics.map((topic) => this.o.nsq.read(topic)));
    const channelGauges = [this.#depth, this.#inFlight, this.#deferred, this.#clients];
    for (const g of [this.#nsqdUp, ...channelGauges]) g.reset();
    // An nsqd is up when every reading of it could be taken.
    const up = new Map<string, boolean>();
    for (const reading of readings) for (const n of reading.nsqds) up.set(n.nsqd, (up.get(n.nsqd) ?? true) && n.up);
    if (up.size === 0 && readings.some((r) => r.problem)) this.#nsqdUp.set({ nsqd: 'unknown' }, 0);
    for (const [nsqd, isUp] of up) this.#nsqdUp.set({ nsqd }, isUp ? 1 : 0);
    for (const [i, reading] of readings.entries()) {
      const topic = this.#topics[i] as string;
      for (const n of reading.nsqds) {
        const stats = n.stats?.topics?.find((t) => t.topic_name === topic);
        for (const c of gaugedChannels(stats?.channels ?? [])) {
          const labels = { nsqd: n.nsqd, topic, channel: c.channel_name };
          this.#depth.set(labels, c.depth);
          this.#inFlight.set(labels, c.in_flight_count);
          this.#deferred.set(labels, c.deferred_count);
          this.#clients.set(labels, c.clients?.length ?? 0);
        }
      }
    }
    return this.registry.metrics();
  }

  /** Observes build `key`'s queue wait and duration, each once, as soon as the store shows them. */
  observe(key: string): void {
    if (this.#finished.has(key)) return;
    const build = this.o.store.getByKey(key);
    if (!build) return;
    if (build.startedAt !== null && !this.#started.has(key)) {
      const push = this.o.pushes?.find(build.repo, build.commit);
      remember(this.#started, key);
      if (push) this.#wait.observe({ job: this.#jobs.label(build.job) }, seconds(push.receivedAt, Date.parse(build.startedAt)));
    }
    if (isFinished(build)) {
      remember(this.#finished, key);
      this.#started.delete(key);
      if (build.startedAt !== null && build.finishedAt !== null) {
        this.#duration.observe({ job: this.#jobs.label(build.job), status: build.status }, seconds(Date.parse(build.startedAt), Date.parse(build.finishedAt)));
      }
    }
  }

  close(): void {
    this.o.store.changes.off('build', this.#onChange);
  }
}

/** A topic's channels that have series: MAX_CHANNELS_PER_TOPIC, consumed or holding messages first; no ephemeral one. */
function gaugedChannels(channels: readonly NsqdChannelStats[]): NsqdChannelStats[] {
  const consumed = (c: NsqdChannelStats) => ((c.clients?.length ?? 0) > 0 ? 1 : 0);
  const holding = (c: NsqdChannelStats) => (c.depth + c.in_flight_count + c.deferred_count > 0 ? 1 : 0);
  return channels
    .filter((c) => !c.channel_name.endsWith('#ephemeral'))
    .sort((a, b) => consumed(b) - consumed(a) || holding(b) - holding(a) || (a.channel_name < b.channel_name ? -1 : 1))
    .slice(0, MAX_CHANNELS_PER_TOPIC);
}

function remember(keys: Set<string>, key: string): void {
  keys.add(key);
  if (keys.size > MAX_REMEMBERED) {
    const oldest = keys.values().next();
    if (!oldest.done) keys.delete(oldest.value);
  }
}

/** GET /metrics in Prometheus's text format. */
export function metricsApp(metrics: ServerMetrics): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    const text = await metrics.scrape();
    return c.body(text, 200, { 'content-type': metrics.registry.contentType });
  });
  return app;
}
