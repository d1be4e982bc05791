/**
 * `lxcts ci up`: the whole CI on one machine. Starts nsqlookupd, nsqd (data under
 * <data>/nsqd), the webhook receiver, the server, one worker per job channel and, given
 * GitHub credentials, the patch-parser worker, each a child process waited for until it
 * answers; writes up.json once all are ready and removes it when they are stopped. `ci up`
 * (src/commands/ci/up.ts) and scripts call startUp(); the pieces are the same commands
 * that run separately on many machines.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PATCH_PARSER_CHANNEL } from '../bot/patch-parser';
import { githubArgs, type GitHubFlagValues, hasGitHubCredentials } from '../cli/github-flags';
import { openDataDir } from '../ci/data-dir';
import { readableLogLine } from '../ci/logger';
import { readMessageKey } from '../ci/message-seal';
import { channelClientCount, NSQ_NAME } from '../ci/nsq-api';
import { processIdentity } from '../ci/process-identity';
import { PUSH_TOPIC } from '../ci/push-event';
import { choosePorts, PORT_NAMES, PortName } from './ports';
import { ComponentSpec, Supervisor } from './supervisor';
import { ADMIN_TOKEN_FILE, ensureSecretFile, UP_PROCESSES_FILE, UP_STATE_FILE, UpProcess, UpState, WEBHOOK_SECRET_FILE, writeJsonAtomically } from './up-files';
import { MESSAGE_KEY_FILE } from './up-files';
import { lockDataDir, stopLeftovers } from './up-lock';

export interface UpOptions {
  /** The data directory: builds, binaries, docs, nsqd's data, the secret files, up.json. */
  dataDir: string;
  /** Where the dashboard and the webhook receiver listen (default 127.0.0.1). NSQ always stays on loopback: nsqd takes anything from anyone who reaches it. */
  host?: string;
  /** Ports to use; any not given is a free one. */
  ports?: Partial<Record<PortName, number>>;
  /** Job channels: one worker each (default binaries and docs). */
  channels?: string[];
  /** Directories of local repositories the workers may build (default <data>/repos). */
  allowLocal?: string[];
  /**
   * GitHub's API and credentials (the --github-* flags: a token file, or an App's id and
   * key file), passed on: the server posts commit statuses, and a `ci worker --channel
   * patch-parser` checks pull requests. Without credentials, neither.
   */
  github?: GitHubFlagValues;
  /** The URL people reach the dashboard at, which commit statuses link to (the server's --public-url). */
  publicUrl?: string;
  /** Host names the dashboard answers to besides its own (the server's --allowed-host). */
  allowedHosts?: string[];
  /** The patch parser's GitHub login: only its comments are edited (the worker's --bot-login). */
  botLogin?: string;
  /** The workers build a fork's pull request only once approved on the dashboard (ci worker --fork-approval). */
  forkApproval?: boolean;
  /** Seconds a worker's running builds get to finish on stop before they are cancelled (default 0). */
  graceSeconds?: number;
  /** Takes each line of output, prefixed with its component (default: stdout). */
  write?: (line: string) => void;
  /** Show the services' JSON log lines as `LEVEL message key=value` (default: when stdout is a terminal). */
  readableLogs?: boolean;
  /** Aborting it during the start stops what was started and makes startUp throw (code INTERRUPTED). */
  signal?: AbortSignal;
  /** The lxcts executable the children run (default this package's bin/run.js). */
  cli?: string;
}

export interface RunningUp {
  /** What up.json holds. */
  state: UpState;
  /** Whether the webhook secret, the admin token and the message key were made by this start. */
  created: { webhookSecret: boolean; adminToken: boolean; messageKey: boolean };
  /** Aborts (reason: an Error naming the component) when a child ends on its own. */
  crashed: AbortSignal;
  /** Stops every child in order (workers first), removes up.json, releases the lock. */
  close(): Promise<void>;
  /** SIGKILLs every child: a pending close() then ends at once. */
  kill(): void;
}

export const DEFAULT_CHANNELS = ['binaries', 'docs'];
/** nsqd and nsqlookupd log every HTTP request at info (each readiness poll, each stats read of the dashboard): warnings and errors only. */
const NSQ_LOG_LEVEL = '--log-level=warn';
const CLI = path.join(__dirname, '..', '..', 'bin', 'run.js');

/** Where the workers of `ci up` take local repositories from unless told otherwise. */
export function defaultAllowLocal(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'repos');
}

/** The host part of a URL for a listen address (a wildcard address is reached on loopback). */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** A readiness check: GET `url` answers 2xx. */
const answers = (url: string) => async (signal: AbortSignal) => (await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]) })).ok;

export async function startUp(o: UpOptions): Promise<RunningUp> {
  const data = openDataDir(o.dataDir);
  const asked = o.channels?.length ? [...new Set(o.channels)] : DEFAULT_CHANNELS;
  const badChannel = asked.find((c) => !NSQ_NAME.test(c));
  if (badChannel !== undefined) throw new Error(`"${badChannel}" is not a channel name (letters, digits, ".", "_", "-"; at most 64)`);
  const patchParser = hasGitHubCredentials(o.github);
  if (asked.includes(PATCH_PARSER_CHANNEL) && !patchParser)
    throw new Error('the patch-parser channel needs GitHub credentials: --github-token-file, or --github-app-id and --github-app-key-file');
  // The patch parser is no build worker: it runs (once) whenever there are credentials.
  const channels = asked.filter((c) => c !== PATCH_PARSER_CHANNEL);
  if (channels.length === 0) throw new Error('no job channel to run a build worker for');
  const github = githubArgs(o.github);
  // Every channel that reads the push topic, created with it before the first push.
  const pushChannels = patchParser ? [...channels, PATCH_PARSER_CHANNEL] : channels;
  const host = o.host ?? '127.0.0.1';
  const loopback = '127.0.0.1';
  const repos = defaultAllowLocal(data.root);
  const allowLocal = o.allowLocal?.length ? o.allowLocal : [repos];
  const nsqdData = path.join(data.root, 'nsqd');
  for (const dir of [repos, nsqdData]) fs.mkdirSync(dir, { recursive: true });
  const write = o.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const names = ['nsqlookupd', 'nsqd', 'webhook', 'server', ...pushChannels.map((c) => `worker ${c}`)];
  const width = Math.max(...names.map((n) => n.length));
  const say = (line: string) => write(`${'up'.padEnd(width)} | ${line}`);

  const lock = await lockDataDir(data);
  const supervisor = new Supervisor(
    write,
    width,
    (o.readableLogs ?? process.stdout.isTTY) ? (line: string) => readableLogLine(line, { colour: !process.env.NO_COLOR, underPrefix: true }) : undefined,
  );
  const processesFile = path.join(data.root, UP_PROCESSES_FILE);
  const stateFile = path.join(data.root, UP_STATE_FILE);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await supervisor.stop();
      fs.rmSync(stateFile, { force: true });
      fs.rmSync(processesFile, { force: true });
      await lock.release();
    })());
  try {
    // What a ci up killed with SIGKILL left: its up.json names a dead pid, its children may live on.
    fs.rmSync(stateFile, { force: true });
    await stopLeftovers(data, say);
    const hosts = Object.fromEntries(PORT_NAMES.map((n) => [n, n === 'webhook' || n === 'dashboard' ? host : loopback])) as Record<PortName, string>;
    const ports = await choosePorts(hosts, o.ports ?? {});
    const secret = ensureSecretFile(path.join(data.root, WEBHOOK_SECRET_FILE), 'webhook secret');
    const admin = ensureSecretFile(path.join(data.root, ADMIN_TOKEN_FILE), 'admin token');
    const messageKey = ensureSecretFile(path.join(data.root, MESSAGE_KEY_FILE), 'message key');
    // A kept key others may read is refused here, before anything starts, rather than by each component.
    readMessageKey(messageKey.file);
    const sealed = ['--message-key-file', messageKey.file];
    const at = (name: PortName) => `${hosts[name]}:${ports[name]}`;
    const nsqdTcp = at('nsqd-tcp');
    const nsqdHttp = at('nsqd-http');
    const lookupdHttp = at('lookupd-http');
    const dashboard = `http://${urlHost(host)}:${ports.dashboard}`;
    const webhook = `http://${urlHost(host)}:${ports.webhook}`;
    const cli = o.cli ?? CLI;
    const lxcts = (args: string[]) => ({ command: process.execPath, args: [cli, ...args, '--data-dir', data.root] });
    const grace = o.graceSeconds ?? 0;
    const quick = { startTimeoutMs: 30_000, stopTimeoutMs: 10_000 };
    /** `ci worker` on `channel`, ready once nsqd shows it consuming that channel. */
    const worker = (channel: string, flags: string[]) => ({
      name: `worker ${channel}`,
      ...lxcts(['ci', 'worker', '--nsqd-tcp', nsqdTcp, '--nsqd-http', nsqdHttp, '--channel', channel, ...flags, ...sealed]),
      ready: async () => (await channelClientCount(nsqdHttp, PUSH_TOPIC, channel)) > 0,
    });
    const components: ComponentSpec[] = [
      {
        name: 'nsqlookupd',
        command: 'nsqlookupd',
        args: [`--tcp-address=${at('lookupd-tcp')}`, `--http-address=${lookupdHttp}`, `--broadcast-address=${loopback}`, NSQ_LOG_LEVEL],
        ready: answers(`http://${lookupdHttp}/ping`),
        ...quick,
      },
      {
        name: 'nsqd',
        command: 'nsqd',
        args: [
          `--data-path=${nsqdData}`,
          `--tcp-address=${nsqdTcp}`,
          `--http-address=${nsqdHttp}`,
          `--broadcast-address=${loopback}`,
          `--lookupd-tcp-address=${at('lookupd-tcp')}`,
          NSQ_LOG_LEVEL,
        ],
        ready: answers(`http://${nsqdHttp}/ping`),
        ...quick,
      },
      {
        name: 'webhook',
        ...lxcts([
          'ci',
          'webhook',
          '--listen',
          at('webhook'),
          '--secret-file',
          secret.file,
          '--nsqd-http',
          nsqdHttp,
          ...sealed,
          ...pushChannels.flatMap((c) => ['--channel', c]),
        ]),
        ready: answers(`${webhook}/healthz`),
        ...quick,
      },
      {
        name: 'server',
        ...lxcts([
          'ci',
          'server',
          '--listen',
          at('dashboard'),
          '--nsqd-tcp',
          nsqdTcp,
          '--nsqd-http',
          nsqdHttp,
          '--admin-token-file',
          admin.file,
          ...sealed,
          ...github,
          ...(o.publicUrl === undefined ? [] : ['--public-url', o.publicUrl]),
          ...(o.allowedHosts ?? []).flatMap((host) => ['--allowed-host', host]),
        ]),
        ready: answers(`${dashboard}/healthz`),
        ...quick,
      },
      ...channels.map((channel): ComponentSpec => ({
        // Ready once it consumes its channel: it swept what a dead worker left and checked nsqd's limits before.
        ...worker(channel, [
          '--live-logs',
          '--grace',
          String(grace),
          ...allowLocal.flatMap((dir) => ['--allow-local', dir]),
          ...(o.forkApproval ? ['--fork-approval'] : []),
        ]),
        startTimeoutMs: 120_000,
        // It cancels its builds after the grace and destroys their containers.
        stopTimeoutMs: (grace + 60) * 1000,
      })),
      ...(patchParser ? [{ ...worker(PATCH_PARSER_CHANNEL, [...github, ...(o.botLogin === undefined ? [] : ['--bot-login', o.botLogin])]), ...quick }] : []),
    ];
    const started: UpProcess[] = [];
    for (const spec of components) {
      const pid = await supervisor.start(spec, o.signal);
      started.push({ name: spec.name, identity: processIdentity(pid) ?? `gone/${pid}/0` });
      writeJsonAtomically(processesFile, started);
    }
    const state: UpState = {
      dashboard,
      webhook: `${webhook}/hooks/github`,
      nsqdTcp,
      nsqdHttp,
      lookupdHttp,
      webhookSecretFile: secret.file,
      adminTokenFile: admin.file,
      messageKeyFile: messageKey.file,
      pid: process.pid,
    };
    writeJsonAtomically(stateFile, state);
    return {
      state,
      created: { webhookSecret: secret.created, adminToken: admin.created, messageKey: messageKey.created },
      crashed: supervisor.crashed,
      close,
      kill: () => supervisor.kill(),
    };
  } catch (err) {
    await close();
    throw err;
  }
}
