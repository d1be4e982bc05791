/**
 * The CI server, wired in one place: the sub-apps (files.ts: /binaries and /docs;
 * uploads.ts: /uploads, only with a worker token; api.ts: /api and /healthz; pages.ts:
 * the HTML pages, the live log and the badges) mounted on one Hono app over one store,
 * and `startServer`, which opens the store, starts the NSQ consumers (ingest.ts) and
 * listens. `lxcts ci server` is a parse and one call of `startServer`.
 */
import type { AddressInfo } from 'node:net';
import * as http from 'node:http';
import * as path from 'node:path';

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { html } from 'hono/html';

import { openDataDir } from '../ci/data-dir';
import type { Logger } from '../ci/logger';
import { MessageSeal } from '../ci/message-seal';
import { findNsqdHttp } from '../ci/nsq-api';
import { BuildStore } from '../ci/store';
import { Access, accessApp } from './access';
import { approveKnownForks } from './approval';
import { buildsApi } from './api';
import { buildActions, controlApp } from './control';
import { filesApp } from './files';
import { hostCheck } from './host-check';
import { type Ingest, startIngest } from './ingest';
import { LiveStore } from './live-store';
import { opsApp, type OpsOptions } from './ops';
import { pagesApp } from './pages';
import { repoPagesApp } from './repo-pages';
import { type PublishLock, uploadsApp } from './uploads';
import { bearerOf, tokenEquals } from './worker-token';
import type { GitHub } from '../github/client';
import { StatusOutbox } from './status-outbox';
import { type StatusReporter, watchBuildStatuses } from './status-reporter';
import { statusSection } from './status-section';

/** The server's own files in the data directory. */
export const SERVER_DATABASE = 'server.sqlite';
export const UPLOAD_STAGING = 'uploads';

export interface ServerAppOptions {
  store: LiveStore;
  /** The data directory's binaries/ and docs/. */
  binariesRoot: string;
  docsRoot: string;
  /** Uploads from workers on other machines; none accepted when absent. */
  uploads?: { stagingDir: string; token: string; lock?: PublishLock };
  /** /metrics and /queue (ops.ts): where nsqd is, the log. */
  ops?: Omit<OpsOptions, 'store' | 'stopping'>;
  /** Aborted when the server stops: live streams end. */
  stopping?: AbortSignal;
  /** Re-run and cancel need it (access.ts); without it they answer 403. */
  adminToken?: string;
  /** When given, reading needs it too (or the admin token). */
  readToken?: string;
  /** Publishes re-runs and cancels to NSQ; without it they answer 503. */
  publish?: (topic: string, body: string) => Promise<void>;
  /** The workers' push topic, where re-runs go (default lxcts.pushes). */
  pushTopic?: string;
  /** Commit statuses: where they stand, shown on the build page. */
  statuses?: StatusOutbox;
  /** Host names requests may carry besides IP literals and localhost (host-check.ts); `*`: any. */
  allowedHosts?: readonly string[];
}

/** Every route of the server on one app. */
export function serverApp(o: ServerAppOptions): Hono {
  const app = new Hono();
  const access = new Access({ adminToken: o.adminToken, readToken: o.readToken });
  // Before anything answers: a rebound name reads nothing, not even whether a build exists.
  app.use(
    '*',
    hostCheck(o.allowedHosts ?? [], (c) => carriesToken(c.req.header('authorization'), [o.uploads?.token, o.adminToken, o.readToken])),
  );
  // First: its read gate stands before every route mounted after it.
  app.route('/', accessApp(access));
  app.route('/', filesApp({ binariesRoot: o.binariesRoot, docsRoot: o.docsRoot }));
  if (o.uploads) app.route('/', uploadsApp({ binariesRoot: o.binariesRoot, docsRoot: o.docsRoot, ...o.uploads }));
  if (o.ops && o.stopping) app.route('/', opsApp({ store: o.store, stopping: o.stopping, ...o.ops }));
  app.route('/', repoPagesApp({ store: o.store, binariesRoot: o.binariesRoot, docsRoot: o.docsRoot }));
  app.route('/', buildsApi(o.store));
  const publish = o.publish ?? (() => Promise.reject(new Error('this server publishes to no nsqd')));
  app.route('/', controlApp({ store: o.store, access, publish, pushTopic: o.pushTopic }));
  app.route(
    '/',
    pagesApp({
      store: o.store,
      binariesRoot: o.binariesRoot,
      stopping: o.stopping,
      buildActions: (c, b) => html`${buildActions(access, c, b)}${o.statuses ? statusSection(o.statuses, b.key) : ''}`,
    }),
  );
  return app;
}

/** Whether an Authorization header carries one of `tokens` (each compared in constant time). */
function carriesToken(header: string | undefined, tokens: ReadonlyArray<string | undefined>): boolean {
  const given = bearerOf(header);
  return given !== '' && tokens.some((token) => token !== undefined && tokenEquals(given, token));
}

export interface ServerOptions {
  /** The data directory (data-dir.ts): binaries and docs served from it, the server's store in it. */
  dataDir: string;
  host: string;
  /** 0: a free port (the URL says which). */
  port: number;
  /** nsqd TCP addresses to consume from, or nsqlookupd HTTP addresses to find them through. */
  nsqdTcp?: string[];
  lookupd?: string[];
  /** nsqd HTTP addresses on which the server's channels are created before the first event. */
  nsqdHttp?: string[];
  /** Workers on other machines upload with it; without it /uploads does not exist. */
  workerToken?: string;
  /** Re-run and cancel need it; without it they answer 403. */
  adminToken?: string;
  /** When given, every page, API and file route needs it (or the admin token). */
  readToken?: string;
  /** The workers' push topic: re-runs go there, and the queue page watches it (default lxcts.pushes). */
  pushTopic?: string;
  /** Commit statuses on GitHub (none without it); publicUrl (what statuses link to) defaults to the listen URL. */
  github?: { client: GitHub; publicUrl?: string };
  /** The URL people reach the server at: its host is accepted in requests' Host header. */
  publicUrl?: string;
  /** More host names requests may carry (host-check.ts, names from allowedHostName); `*`: any. */
  allowedHosts?: readonly string[];
  /** Seals the re-runs and cancels it publishes, opens the events, chunks and pushes it reads (message-seal.ts). Default: none, nsqd trusted. */
  seal?: MessageSeal;
  log: Logger;
}

export interface RunningServer {
  /** http://host:port of the dashboard. */
  url: string;
  /** Stops the consumers (unfinished messages go back to nsqd), live streams and the listener. */
  close(): Promise<void>;
}

/** Opens the server's store in the data directory, consumes the topics and listens. */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  if (!o.nsqdTcp?.length && !o.lookupd?.length) throw new Error('the server needs nsqd TCP addresses or nsqlookupd addresses to consume from');
  const data = openDataDir(o.dataDir);
  const store = new LiveStore(path.join(data.root, SERVER_DATABASE));
  const stopping = new AbortController();
  const seal = o.seal ?? new MessageSeal(null);
  // Local workers publishing into the same data directory take the same per-repository lock.
  const builds = o.workerToken ? new BuildStore(data.database) : undefined;
  // Its own connection, opened after the store's migrations ran.
  const statuses = o.github ? new StatusOutbox(path.join(data.root, SERVER_DATABASE)) : undefined;
  // Listening before ingest starts, so that no build change goes by unseen.
  const reporter: StatusReporter | undefined =
    o.github && statuses ? watchBuildStatuses({ store, outbox: statuses, github: o.github.client, log: o.log }) : undefined;
  // Re-runs, cancels and approvals, sealed (message-seal.ts).
  const publish = async (topic: string, body: string) => {
    const nsqd = o.nsqdHttp?.[0] ?? (o.lookupd?.length ? await findNsqdHttp(o.lookupd) : null);
    if (!nsqd) throw new Error('the server knows no nsqd HTTP address to publish to: start it with --nsqd-http');
    await seal.publish(nsqd, topic, body);
  };
  // A fork approved before: its builds that wait are approved as they arrive (approval.ts).
  const approvals = approveKnownForks({ store, publish, pushTopic: o.pushTopic, log: o.log });
  let ingest: Ingest | undefined;
  let server: http.Server | undefined;
  try {
    const app = serverApp({
      store,
      binariesRoot: data.binaries,
      docsRoot: data.docs,
      uploads:
        o.workerToken && builds
          ? { stagingDir: path.join(data.root, UPLOAD_STAGING), token: o.workerToken, lock: (name, fn) => builds.withLock(name, fn) }
          : undefined,
      ops: { nsqdHttp: o.nsqdHttp, lookupd: o.lookupd, nsqdTcp: o.nsqdTcp, pushTopic: o.pushTopic, seal, log: o.log },
      stopping: stopping.signal,
      adminToken: o.adminToken,
      readToken: o.readToken,
      pushTopic: o.pushTopic,
      statuses,
      allowedHosts: allowedHosts(o),
      publish,
    });
    ingest = await startIngest({ store, nsqd: o.nsqdTcp, lookupd: o.lookupd, nsqdHttp: o.nsqdHttp, seal, log: o.log });
    server = await listen(app, o.host, o.port);
  } catch (err) {
    stopping.abort();
    ingest?.close();
    approvals.close();
    reporter?.close();
    statuses?.close();
    store.close();
    builds?.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}`;
  if (reporter) reporter.startPosting(o.github?.publicUrl ?? url);
  else o.log.warn('commit statuses are off: no GitHub credentials (--github-token-file, or --github-app-id and --github-app-key-file)');
  o.log.info(
    { url, nsqdTcp: o.nsqdTcp, lookupd: o.lookupd, uploads: Boolean(o.workerToken), admin: Boolean(o.adminToken), readToken: Boolean(o.readToken) },
    'CI server listening',
  );
  const listening = server;
  const consumers = ingest;
  return {
    url,
    close: async () => {
      stopping.abort();
      consumers.close();
      approvals.close();
      reporter?.close();
      const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
      // Live pages keep their connections open: end them, or close() waits forever.
      listening.closeAllConnections();
      await closed;
      statuses?.close();
      store.close();
      builds?.close();
      o.log.info('CI server stopped');
    },
  };
}

/** The listen host, the public URL's host and the names given (IP literals and localhost need none). */
function allowedHosts(o: ServerOptions): string[] {
  const names = [...(o.allowedHosts ?? [])];
  const hostOf = (url: string) => new URL(url).hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  for (const url of [o.publicUrl, o.github?.publicUrl]) if (url) names.push(hostOf(url));
  names.push(o.host.toLowerCase());
  return names;
}

function listen(app: Hono, hostname: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }) as http.Server;
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
