/**
 * Worker processes feeding the CI server's store, for tests that follow a build from a real
 * worker to the server: real nsqd and nsqlookupd, the push topic's job channels and the
 * server's channels made before anything is published, a `ServerStore` fed by the real
 * consumers (`startIngest`), and everything stopped in `stop()`, also after a failure.
 */
import * as path from 'node:path';

import { LOGS_TOPIC } from '../../src/ci/log-chunks';
import { loggerFor } from '../../src/ci/logger';
import { PUSH_TOPIC } from '../../src/ci/push-event';
import { EVENTS_TOPIC, type Ingest, SERVER_CHANNEL, startIngest } from '../../src/server/ingest';
import { ServerStore } from '../../src/server/server-store';
import { CiSandbox } from './ci-data';
import { must } from './must';
import { TestNsq } from './nsq';
import { CliProcesses } from './pipeline';

export class WorkersToServer {
  readonly nsq = new TestNsq({ lookupd: true });
  readonly ci: CiSandbox;
  readonly procs: CliProcesses;
  #store: ServerStore | undefined;
  #ingest: Ingest | undefined;

  constructor(
    label: string,
    private readonly channels: string[],
  ) {
    this.ci = new CiSandbox(label);
    this.procs = new CliProcesses(this.ci.data.root);
  }

  /** The server's store, once `start()` made it. */
  get store(): ServerStore {
    return must(this.#store, 'the server store (start() first)');
  }

  async start(): Promise<void> {
    await this.nsq.start();
    for (const channel of this.channels) await this.nsq.createChannel(PUSH_TOPIC, channel);
    for (const topic of [EVENTS_TOPIC, LOGS_TOPIC]) await this.nsq.createChannel(topic, SERVER_CHANNEL);
    this.#store = new ServerStore(path.join(this.ci.data.root, 'server.db'));
    this.#ingest = await startIngest({ store: this.#store, lookupd: [this.nsq.lookupdHttp], log: loggerFor('server-test') });
  }

  /** A worker of `channel` found through nsqlookupd, building the repositories under the sandbox's repos/. */
  startWorker(channel: string, ...flags: string[]) {
    return this.procs.startWorker(['--lookupd', this.nsq.lookupdHttp], channel, '--allow-local', path.join(this.ci.data.root, 'repos'), ...flags);
  }

  async stop(): Promise<void> {
    await this.procs.killAll();
    this.#ingest?.close();
    this.#store?.close();
    await this.nsq.stop();
    this.ci.cleanup();
  }
}
