/** Real nsqd and nsqlookupd processes on loopback, on free ports, for one test file. */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { waitFor } from './wait';

/** A port nothing listens on right now (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function waitForHttp(url: string): Promise<void> {
  return waitFor(async () => (await fetch(url).catch(() => undefined))?.ok === true, `${url} to come up`, { seconds: 10 });
}

export class TestNsq {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcts-nsq-'));
  nsqdTcp = '';
  nsqdHttp = '';
  lookupdTcp = '';
  lookupdHttp = '';
  #nsqd: ChildProcess | undefined;
  #lookupd: ChildProcess | undefined;

  constructor(private readonly options: { lookupd?: boolean; nsqdFlags?: string[] } = {}) {}

  async start(): Promise<this> {
    if (this.options.lookupd) {
      this.lookupdTcp = `127.0.0.1:${await freePort()}`;
      this.lookupdHttp = `127.0.0.1:${await freePort()}`;
      this.#lookupd = spawn('nsqlookupd', [`--tcp-address=${this.lookupdTcp}`, `--http-address=${this.lookupdHttp}`, '--broadcast-address=127.0.0.1'], {
        stdio: 'ignore',
      });
      await waitForHttp(`http://${this.lookupdHttp}/ping`);
    }
    this.nsqdTcp = `127.0.0.1:${await freePort()}`;
    this.nsqdHttp = `127.0.0.1:${await freePort()}`;
    await this.startNsqd();
    return this;
  }

  /** (Re)starts nsqd on the same ports and data directory. */
  async startNsqd(): Promise<void> {
    const flags = [
      `--tcp-address=${this.nsqdTcp}`,
      `--http-address=${this.nsqdHttp}`,
      `--data-path=${this.dir}`,
      '--broadcast-address=127.0.0.1',
      ...(this.lookupdTcp ? [`--lookupd-tcp-address=${this.lookupdTcp}`] : []),
      ...(this.options.nsqdFlags ?? []),
    ];
    this.#nsqd = spawn('nsqd', flags, { stdio: 'ignore' });
    await waitForHttp(`http://${this.nsqdHttp}/ping`);
  }

  async stopNsqd(): Promise<void> {
    const nsqd = this.#nsqd;
    if (!nsqd || nsqd.exitCode !== null) return;
    const exited = new Promise((r) => nsqd.once('exit', r));
    nsqd.kill('SIGTERM');
    await exited;
  }

  /**
   * Makes a channel exist before messages are published: a channel created later does not
   * receive what was published before it (the first channel took it).
   */
  async createChannel(topic: string, channel: string): Promise<void> {
    for (const what of [`topic/create?topic=${topic}`, `channel/create?topic=${topic}&channel=${channel}`]) {
      const r = await fetch(`http://${this.nsqdHttp}/${what}`, { method: 'POST' });
      if (!r.ok) throw new Error(`nsqd ${what}: ${r.status}`);
    }
  }

  /** Messages waiting in a topic (and its channels). */
  async depth(topic: string): Promise<number> {
    const stats = (await (await fetch(`http://${this.nsqdHttp}/stats?format=json&topic=${topic}`)).json()) as {
      topics: Array<{ topic_name: string; depth: number; message_count: number }> | null;
    };
    return (stats.topics ?? []).find((t) => t.topic_name === topic)?.depth ?? 0;
  }

  async stop(): Promise<void> {
    await this.stopNsqd();
    this.#lookupd?.kill('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
