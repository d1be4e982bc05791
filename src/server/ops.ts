/**
 * The server's operations side, mounted by app.ts in one line: /metrics (metrics.ts) and
 * the workers-and-queue view, /queue and /api/queue (queue-page.ts). It watches the push
 * topic on the server's ephemeral channel (push-queue.ts) and the store's changes, and stops
 * both when `stopping` aborts.
 */
import { Hono } from 'hono';

import type { Logger } from '../ci/logger';
import type { MessageSeal } from '../ci/message-seal';
import { NSQ_NAME } from '../ci/nsq-api';
import { PUSH_TOPIC } from '../ci/push-event';
import type { LiveStore } from './live-store';
import { metricsApp, ServerMetrics } from './metrics';
import { NsqReadings } from './nsq-readings';
import { PushQueue, watchPushes } from './push-queue';
import { queueApp, QueueWatch } from './queue-page';

/** The receiver's and the workers' default --topic. */

export interface OpsOptions {
  store: LiveStore;
  /** nsqd HTTP addresses to read stats from; without them, every nsqd nsqlookupd knows. */
  nsqdHttp?: string[];
  lookupd?: string[];
  /** nsqd TCP addresses to watch the push topic on (when there is no nsqlookupd). */
  nsqdTcp?: string[];
  /** The push topic; default lxcts.pushes. */
  pushTopic?: string;
  /** Opens the pushes it watches (message-seal.ts); /metrics counts what it and the consumers refused. */
  seal?: MessageSeal;
  log: Logger;
  /** Aborted when the server stops: the push watch and the store listeners end. */
  stopping: AbortSignal;
}

export function opsApp(o: OpsOptions): Hono {
  const topic = o.pushTopic ?? PUSH_TOPIC;
  if (!NSQ_NAME.test(topic)) throw new Error(`the pushes topic ${JSON.stringify(topic.slice(0, 80))} is not an NSQ topic name (${NSQ_NAME.source})`);
  const nsq = new NsqReadings({ nsqdHttp: o.nsqdHttp, lookupd: o.lookupd });
  const pushes = new PushQueue();
  const metrics = new ServerMetrics({ store: o.store, nsq, pushes, pushTopic: topic, seal: o.seal });
  // Each build the store hears of takes its push off that job's channel (looked up once
  // per build, not at each of its log chunks).
  const noted = new Set<string>();
  const onChange = (key: string) => {
    if (noted.has(key)) return;
    const build = o.store.getByKey(key);
    if (!build) return;
    pushes.noteBuild(build);
    noted.add(key);
    if (noted.size > 10_000) noted.delete(noted.values().next().value as string);
  };
  o.store.changes.on('build', onChange);
  const closeWatch =
    o.lookupd?.length || o.nsqdTcp?.length
      ? watchPushes({ queue: pushes, topic, lookupd: o.lookupd, nsqdTcp: o.nsqdTcp, seal: o.seal, log: o.log })
      : undefined;
  const stop = () => {
    closeWatch?.();
    metrics.close();
    o.store.changes.off('build', onChange);
  };
  if (o.stopping.aborted) stop();
  else o.stopping.addEventListener('abort', stop, { once: true });
  const app = new Hono();
  app.route('/', metricsApp(metrics));
  app.route('/', queueApp(new QueueWatch({ nsq, topic, pushes })));
  return app;
}
