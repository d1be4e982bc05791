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

import { openDataDir } from '../ci/data-dir';
import type { Logger } from '../ci/logger';
import { BuildStore } from '../ci/store';
import { buildsApi } from './api';
import { filesApp } from './files';
import { type Ingest, startIngest } from './ingest';
import { LiveStore } from './live-store';
import { pagesApp } from './pages';
import { repoPagesApp } from './repo-pages';
import { type PublishLock, uploadsApp } from './uploads';

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
  /** Aborted when the server stops: live streams end. */
  stopping?: AbortSignal;
}

/** Every route of the server on one app. */
export function serverApp(o: ServerAppOptions): Hono {
  const app = new Hono();
  app.route('/', filesApp({ binariesRoot: o.binariesRoot, docsRoot: o.docsRoot }));
  if (o.uploads) app.route('/', uploadsApp({ binariesRoot: o.binariesRoot, docsRoot: o.docsRoot, ...o.uploads }));
  app.route('/', repoPagesApp({ store: o.store, binariesRoot: o.binariesRoot, docsRoot: o.docsRoot }));
  app.route('/', buildsApi(o.store));
  app.route('/', pagesApp({ store: o.store, binariesRoot: o.binariesRoot, stopping: o.stopping }));
  return app;
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
  // Local workers publishing into the same data directory take the same per-repository lock.
  const builds = o.workerToken ? new BuildStore(data.database) : undefined;
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
      stopping: stopping.signal,
    });
    ingest = await startIngest({ store, nsqd: o.nsqdTcp, lookupd: o.lookupd, nsqdHttp: o.nsqdHttp, log: o.log });
    server = await listen(app, o.host, o.port);
  } catch (err) {
    ingest?.close();
    store.close();
    builds?.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}`;
  o.log.info({ url, nsqdTcp: o.nsqdTcp, lookupd: o.lookupd, uploads: Boolean(o.workerToken) }, 'CI server listening');
  const listening = server;
  const consumers = ingest;
  return {
    url,
    close: async () => {
      stopping.abort();
      consumers.close();
      const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
      // Live pages keep their connections open: end them, or close() waits forever.
      listening.closeAllConnections();
      await closed;
      store.close();
      builds?.close();
      o.log.info('CI server stopped');
    },
  };
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
