import { mkdir, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { AbortError, LxcError } from './errors';
import { checkConsoleOptions, ConsoleLogOptions, ConsoleOptions, ContainerConsole } from './console';
import { ContainerEvents, watch, WatchOptions } from './events';
import { checkArgv, checkExecInput, checkExecSize, checkSpawnOptions, collectExec, ExecOptions, ExecResult, SpawnOptions } from './exec';
import { executeConfigItems, ExecuteOptions, startExecute } from './execute';
import { FileCallOptions, pullFile, pullTar, PullTarOptions, pushFile, PushFileOptions, pushTar, PushTarResult } from './files';
import { Attach, checkExecMode, ExecMode, ResidentExec } from './resident-exec';
import { ContainerProcess, fromAttached } from './process';
import { CgroupFiles } from './cgroup-files';
import { blkioUsage, CgroupReader, cpuStats, memoryLimit, memoryUsage, setMemoryLimit } from './stats';
import * as statsExtras from './stats-extras';
import * as ops from './container-ops';
import type { AddressScope } from './container-ops';
import { BlkioUsage, CpuStats, InterfaceStats, parseNetDev } from './stats-parsers';
import { filesProgramPath, native, NativeContainer } from './native';
import { HandlePool } from './handle-pool';
import { SerialQueue } from './serial-queue';
import { checkBytes, checkStorage, requireBackend, StorageOptions } from './storage';
import { PidFd } from './pidfd';
import { checkComment, withComments } from './snapshot-comment';
import {
  checkConfigFile,
  checkConfigText,
  checkHookArgs,
  checkLxcpath,
  checkName,
  checkTemplateArgs,
  expectBoolean,
  expectOptionalStringWithoutNul,
  expectOptions,
  expectString,
  expectStringArray,
  expectStringWithoutNul,
  timeoutSeconds,
} from './validate';

export type ContainerState = 'STOPPED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'ABORTING' | 'FREEZING' | 'FROZEN' | 'THAWED';

export const CONTAINER_STATES: readonly ContainerState[] = ['STOPPED', 'STARTING', 'RUNNING', 'STOPPING', 'ABORTING', 'FREEZING', 'FROZEN', 'THAWED'];

/** Storage backends liblxc can create a rootfs on ("best" lets liblxc choose). */
export type Backend = 'dir' | 'overlay' | 'overlayfs' | 'btrfs' | 'zfs' | 'lvm' | 'loop' | 'rbd' | 'best';

export interface ContainerOptions {
  /**
   * Directory holding the containers. Default: liblxc's lxcpath (/var/lib/lxc for root).
   * Made absolute; whitespace, control characters and characters that config files,
   * templates or overlay mounts read specially are refused (TypeError). create() and
   * clone() make it (mode 0755) when it does not exist, as lxc-create does.
   */
  lxcpath?: string;
  /**
   * How exec() and spawn() start commands. 'attach' (the default): liblxc's attach, each
   * time. 'resident': the exec fast path, one lxcts-resident process in the running
   * container that forks each command with what an attached command gets (see
   * resident-exec.ts); a terminal, a kept environment or attach options still attach.
   */
  exec?: ExecMode;
}

export interface CreateOptions {
  /** Template name (e.g. "busybox", "download") or an absolute path to a template script. */
  template: string;
  /**
   * Arguments passed to the template, e.g. ["--dist", "debian"]. Templates expand them
   * unquoted, so whitespace, control characters and * ? [ are refused (TypeError).
   */
  args?: string[];
  /** Storage backend for the rootfs. Default: "dir". */
  backend?: Backend;
  /** Send the template's output to /dev/null instead of this process's stdout. Default: true. */
  quiet?: boolean;
  /**
   * How the backend makes the rootfs: filesystem type and size, LVM, ZFS or Ceph names. A
   * backend this machine cannot provide (no `lvcreate`, no ZFS dataset, an lxcpath not on
   * btrfs) fails with LXC_BACKEND_UNAVAILABLE naming what is missing.
   */
  storage?: StorageOptions;
}

export interface StartOptions {
  /** Command to run as the container's init instead of the configured one. */
  args?: string[];
}

export interface ShutdownOptions {
  /** Seconds to wait for a clean halt before failing with LXC_TIMEOUT. Default: 60. */
  timeout?: number;
}

export interface FreezeOptions {
  /** Seconds before failing with LXC_TIMEOUT. Default: 30. */
  timeout?: number;
}

export interface WaitOptions {
  /** Seconds to wait before failing with LXC_TIMEOUT. Default: Infinity. */
  timeout?: number;
}

export interface DestroyOptions {
  /** Also destroy the container's snapshots. Default: false (fails with LXC_HAS_SNAPSHOTS). */
  withSnapshots?: boolean;
}

export interface IpAddressOptions {
  /** Only IPv4 ("inet") or IPv6 ("inet6") addresses. Default: both. */
  family?: 'inet' | 'inet6';
  /** Only this interface (as named inside the container). Default: all but lo. */
  interface?: string;
  /** Wait up to this many seconds for an address to appear, then fail with LXC_TIMEOUT. */
  timeout?: number;
  /**
   * Only addresses of this scope, as the kernel records it: `global`, `link` (IPv6's
   * fe80::/10, IPv4 addresses added with `scope link`) or `host` (loopback; lo's addresses
   * are then included). Default: global addresses but
   * those of lo, as liblxc's get_ips gives them.
   */
  scope?: AddressScope;
}

export interface CloneOptions {
  /** Copy-on-write snapshot of the rootfs instead of a full copy (fast with overlay). */
  snapshot?: boolean;
  /** Backend of the clone's rootfs, e.g. "overlay" with snapshot: true. Default: the source's. */
  backend?: 'dir' | 'overlay' | 'overlayfs' | 'btrfs' | 'zfs' | 'lvm' | 'loop';
  /** Where to put the clone. Default: this container's lxcpath. */
  lxcpath?: string;
  /** Keep the hostname (lxc.uts.name and the rootfs's /etc/hostname) instead of the new name. Default: false. */
  keepName?: boolean;
  /** Keep the network interfaces' MAC addresses instead of making new ones. Default: false. */
  keepMac?: boolean;
  /** Size in bytes of the clone's rootfs on a block backend (loop, lvm). Default: the source's. */
  newSize?: number;
  /**
   * Arguments passed, after liblxc's own, to the container's lxc.hook.clone scripts. liblxc
   * runs hooks through a shell, unquoted, so only letters, digits and _ . , : / = @ % + - are
   * accepted (TypeError otherwise).
   */
  hookArgs?: string[];
}

export interface SnapshotOptions {
  /** Text stored with the snapshot (its comment file), read back by snapshots(). At most 64 KiB. */
  comment?: string;
}

export interface SnapshotInfo {
  name: string;
  timestamp: string;
  /** The snapshot's comment file, or "" when it has none. */
  commentPath: string;
  /** The text of the comment file; null when the snapshot has none. */
  comment: string | null;
  lxcpath: string;
}

const DEFAULT_SHUTDOWN_SECONDS = 60;
/** liblxc's own freeze takes a second or two; 30 s is far beyond that, yet bounded. */
const DEFAULT_FREEZE_SECONDS = 30;
const IP_POLL_MS = 200;
/** Commands a Container object starts at once; more wait for a handle (see #attachHandles). */
const ATTACH_HANDLES = 8;

/**
 * When a call runs relative to this object's queue: `queued` behind every call made before
 * it, holding up the ones made after; `now` at once, outside the queue; `after-queued`
 * behind the calls queued so far, without holding up the ones queued later.
 */
type CallOrder = 'queued' | 'now' | 'after-queued';

/**
 * One LXC container, by name and lxcpath. The container need not exist yet: `create()`
 * makes it. Every method returns a Promise and runs liblxc off the main thread.
 *
 * Calls on one Container object run one after another, in call order, because a liblxc
 * container object is not safe to use from two threads at once (liblxc forks inside
 * start and attach). Use separate Container objects for parallel work on one container;
 * liblxc's own locks keep them consistent. `wait()` does not queue, so it can watch for
 * a state that a later call (stop, shutdown) brings about.
 *
 * Call `release()` when done; a finalizer releases forgotten objects, but only when the
 * garbage collector gets to them, and each holds a file descriptor until then.
 */
export class Container {
  readonly name: string;
  /** The absolute lxcpath, or undefined for liblxc's default. */
  readonly lxcpath: string | undefined;

  readonly #native: NativeContainer;
  readonly #queue = new SerialQueue();
  /**
   * exec and spawn attach through handles of their own, so that commands start in
   * parallel (a liblxc handle is never used by two threads at once) and a long queue of
   * other calls does not wait behind them.
   */
  readonly #attachHandles: HandlePool<NativeContainer>;
  /** The exec fast path, when the options asked for it. */
  readonly #resident: ResidentExec | undefined;
  #released = false;
  #releasing: Promise<void> | undefined;
  /** Calls of several steps (see #steps) that release() lets finish. */
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(name: string, options: ContainerOptions = {}) {
    this.name = checkName(name);
    const o = expectOptions<ContainerOptions>(options, 'Container options');
    this.lxcpath = checkLxcpath(o.lxcpath);
    this.#resident = checkExecMode(o.exec) === 'resident' ? new ResidentExec(this.name) : undefined;
    this.#native = new (native().NativeContainer)(this.name, this.lxcpath ?? null);
    this.#attachHandles = new HandlePool(
      () => new (native().NativeContainer)(this.name, this.lxcpath ?? null),
      (n) => n.release(),
      ATTACH_HANDLES,
    );
  }

  /** Creates the container's config and rootfs from a template. */
  create(options: CreateOptions): Promise<void> {
    return this.#call('create', () => {
      const o = expectOptions<CreateOptions>(options, 'create options');
      const template = expectStringWithoutNul(o.template, 'template');
      if (template.length === 0) throw new TypeError('Expected a template name but received an empty string');
      const args = checkTemplateArgs(o.args);
      const backend = expectOptionalStringWithoutNul(o.backend, 'backend') ?? null;
      const quiet = expectBoolean(o.quiet, 'quiet', true);
      const storage = checkStorage(o.storage);
      return async (n) => {
        const lxcpath = await makeLxcpath(this.lxcpath, 'create', this.name);
        await requireBackend(backend, lxcpath, 'create', this.name, storage);
        return n.create(template, args, backend, quiet, storage.args);
      };
    });
  }

  /** Starts the container in the background; resolves once it is RUNNING. */
  start(options: StartOptions = {}): Promise<void> {
    return this.#call('start', () => {
      const args = expectStringArray(expectOptions<StartOptions>(options, 'start options').args, 'start args');
      return (n) => n.start(args);
    });
  }

  /** Kills the container's processes (no clean shutdown). */
  stop(): Promise<void> {
    return this.#call('stop', () => (n) => n.stop());
  }

  /** Asks the container's init to halt and waits for it; LXC_TIMEOUT if it does not. */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    return this.#call('shutdown', () => {
      const o = expectOptions<ShutdownOptions>(options, 'shutdown options');
      const timeout = timeoutSeconds(o.timeout, 'shutdown timeout', DEFAULT_SHUTDOWN_SECONDS);
      return (n) => n.shutdown(timeout);
    });
  }

  /** Asks the container's init to reboot. */
  reboot(): Promise<void> {
    return this.#call('reboot', () => (n) => n.reboot());
  }

  /** Removes the container's config and rootfs. It must be stopped. */
  destroy(options: DestroyOptions = {}): Promise<void> {
    return this.#call('destroy', () => {
      const withSnapshots = expectBoolean(expectOptions<DestroyOptions>(options, 'destroy options').withSnapshots, 'withSnapshots', false);
      return (n) => n.destroy(withSnapshots);
    });
  }

  /**
   * Freezes every process of the running container. Freezes and unfreezes of one
   * container take turns within this process; LXC_TIMEOUT when it did not finish within
   * `timeout` seconds (something outside this process kept changing the freezer).
   */
  freeze(options: FreezeOptions = {}): Promise<void> {
    return this.#call('freeze', () => {
      const timeout = timeoutSeconds(expectOptions<FreezeOptions>(options, 'freeze options').timeout, 'freeze timeout', DEFAULT_FREEZE_SECONDS);
      return (n) => n.freeze(timeout);
    });
  }

  /** Thaws a frozen container; as freeze() for turns and `timeout`. */
  unfreeze(options: FreezeOptions = {}): Promise<void> {
    return this.#call('unfreeze', () => {
      const timeout = timeoutSeconds(expectOptions<FreezeOptions>(options, 'unfreeze options').timeout, 'unfreeze timeout', DEFAULT_FREEZE_SECONDS);
      return (n) => n.unfreeze(timeout);
    });
  }

  /**
   * Resolves when the container is in `state` (at once if it already is); LXC_TIMEOUT
   * after `timeout` seconds. Not queued behind this object's other calls.
   */
  wait(state: ContainerState, options: WaitOptions = {}): Promise<void> {
    return this.#call(
      'wait',
      () => {
        const s = expectString(state, 'state');
        if (!CONTAINER_STATES.includes(s as ContainerState)) {
          throw new TypeError(`Expected one of ${CONTAINER_STATES.join(', ')} for state but received "${s}"`);
        }
        const timeout = timeoutSeconds(expectOptions<WaitOptions>(options, 'wait options').timeout, 'wait timeout', Infinity);
        return (n) => n.wait(s, timeout);
      },
      { order: 'now' },
    );
  }

  state(): Promise<ContainerState> {
    // From the event loop over the monitor's socket (monitor_state.h); through liblxc when that cannot ask.
    const lxcpath = this.lxcpath;
    return this.#call(
      'state',
      () => (n) => ((lxcpath === undefined ? null : native().monitorState(lxcpath, this.name)) ?? n.state()) as Promise<ContainerState>,
    );
  }

  running(): Promise<boolean> {
    return this.#call('running', () => (n) => n.running());
  }

  defined(): Promise<boolean> {
    return this.#call('defined', () => (n) => n.defined());
  }

  /** PID of the container's init as seen from the host, or null when it is not running. */
  initPid(): Promise<number | null> {
    return this.#call('initPid', () => (n) => n.initPid());
  }

  /** The value of a config key as loaded in this object ("" when unset). */
  getConfigItem(key: string): Promise<string> {
    return this.#call('getConfigItem', () => {
      const k = checkConfigText(key, 'key', 'getConfigItem', this.name);
      return (n) => n.getConfigItem(k);
    });
  }

  /** Sets a config key in memory; `saveConfig()` writes it to disk. */
  setConfigItem(key: string, value: string): Promise<void> {
    return this.#call('setConfigItem', () => {
      const k = checkConfigText(key, 'key', 'setConfigItem', this.name);
      const v = checkConfigText(value, 'value', 'setConfigItem', this.name);
      return (n) => n.setConfigItem(k, v);
    });
  }

  /** Clears a config key (or a whole family, e.g. "lxc.net") in memory. */
  clearConfigItem(key: string): Promise<void> {
    return this.#call('clearConfigItem', () => {
      const k = checkConfigText(key, 'key', 'clearConfigItem', this.name);
      return (n) => n.clearConfigItem(k);
    });
  }

  /** The value a running container actually uses, or null when it has none. */
  getRunningConfigItem(key: string): Promise<string | null> {
    return this.#call('getRunningConfigItem', () => {
      const k = checkConfigText(key, 'key', 'getRunningConfigItem', this.name);
      return (n) => n.getRunningConfigItem(k);
    });
  }

  /** Config keys liblxc knows, or the subkeys under `prefix` (e.g. "lxc.net.0"). */
  configKeys(prefix?: string): Promise<string[]> {
    return this.#call('configKeys', () => {
      const p = prefix === undefined ? null : checkConfigText(prefix, 'key', 'configKeys', this.name);
      return (n) => n.configKeys(p);
    });
  }

  /** Writes the in-memory config to the container's config file, or to `path`. */
  saveConfig(path?: string): Promise<void> {
    return this.#call('saveConfig', () => {
      const p = expectOptionalStringWithoutNul(path, 'config path') ?? null;
      return (n) => n.saveConfig(p);
    });
  }

  /** Reads a cgroup file of the running container, e.g. "memory.usage_in_bytes". */
  getCgroupItem(key: string): Promise<string> {
    return this.#call('getCgroupItem', () => {
      const k = checkCgroupKey(key, 'getCgroupItem', this.name);
      return (n) => n.getCgroupItem(k);
    });
  }

  setCgroupItem(key: string, value: string): Promise<void> {
    return this.#call('setCgroupItem', () => {
      const k = checkCgroupKey(key, 'setCgroupItem', this.name);
      const v = checkConfigText(value, 'value', 'setCgroupItem', this.name);
      return (n) => n.setCgroupItem(k, v);
    });
  }

  /**
   * Runs a command in the running container and collects its output. `exitCode` is the
   * command's own status (0-255); a command killed by a signal has `exitCode: null` and
   * `signal` set. A missing program gives 127, one that cannot be executed 126.
   *
   * It resolves once the command has exited and its stdout and stderr have both ended: a
   * process it started in the background that keeps them open holds the result until it
   * closes them, and what it writes until then is included (as with a shell's `$(...)`).
   * With `timeout`, that wait ends at the same deadline: LXC_TIMEOUT, the outputs closed.
   * `spawn()`'s `wait()` resolves at the command's exit instead, its streams still open.
   */
  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const input = checkExecInput(options);
    const proc = await this.#spawn('exec', argv, options, input !== undefined, undefined, true);
    return collectExec(proc, input, { timeout: options.timeout, op: 'exec', container: this.name });
  }

  /**
   * Starts a command in the running container and returns it with its streams. Read
   * `stdout` and `stderr` (or resume() them): a command whose output nobody reads
   * blocks once the pipe is full.
   */
  spawn(argv: string[], options: SpawnOptions = {}): Promise<ContainerProcess> {
    return this.#spawn('spawn', argv, options, true);
  }

  /**
   * Runs `argv` as the init of an application container (lxc-execute), waits for it and
   * collects its output. Works on a defined container (with its config and rootfs) and on
   * one that does not exist (liblxc's default config over the host's root filesystem).
   * A command killed by signal N reports exit code 128+N: init.lxc passes it on that way.
   */
  async execute(argv: string[], options: ExecuteOptions = {}): Promise<ExecResult> {
    const input = checkExecInput(options);
    return collectExec(await this.spawnExecute(argv, options), input, { timeout: options.timeout, op: 'execute', container: this.name });
  }

  /** execute() with the command's streams, like spawn(). `pid` is the helper's. */
  async spawnExecute(argv: string[], options: ExecuteOptions = {}): Promise<ContainerProcess> {
    if (this.#released) {
      throw new LxcError(`container "${this.name}" was released`, { code: 'LXC_RELEASED', op: 'execute', container: this.name });
    }
    const args = checkArgv(argv);
    const items = executeConfigItems(options, this.name);
    const { timeout, signal } = checkSpawnOptions({ timeout: options.timeout, signal: options.signal }, true);
    if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
    const stop = async () => {
      const other = new Container(this.name, { lxcpath: this.lxcpath });
      try {
        await other.stop();
      } finally {
        await other.release();
      }
    };
    const parts = startExecute(this.name, this.lxcpath, items, args, stop);
    return new ContainerProcess(parts, { timeout, signal, op: 'execute', container: this.name });
  }

  /** Copies a host file (never through a link) or a stream to `dest` in the running container. See files.ts. */
  pushFile(source: string | Readable, dest: string, options: PushFileOptions = {}): Promise<void> {
    return pushFile(this, source, dest, options);
  }

  /** A stream of the file at `path` in the running container; it fails if the file cannot be read whole. */
  pullFile(path: string, options: FileCallOptions = {}): Promise<Readable> {
    return pullFile(this, path, options);
  }

  /** Writes a tar stream below `dest` in the running container (modes, owners, links kept; nothing written outside `dest`). */
  pushTar(source: Readable | AsyncIterable<Uint8Array>, dest: string, options: FileCallOptions = {}): Promise<PushTarResult> {
    return pushTar(this, source, dest, options);
  }

  /** The tree at `path` in the running container as a tar stream (links as links). */
  pullTar(path: string, options: PullTarOptions = {}): Promise<Readable> {
    return pullTar(this, path, options);
  }

  /** @internal lxcts-files in the container, for files.ts. */
  spawnFilesProgram(op: string, args: string[], pipeStdin: boolean, limits: FileCallOptions = {}): Promise<ContainerProcess> {
    return this.#spawn(op, ['lxcts-files', ...args], limits, pipeStdin, filesProgramPath());
  }

  async #spawn(op: string, argv: string[], options: SpawnOptions, pipeStdin: boolean, program?: string, collect = false): Promise<ContainerProcess> {
    const binding = native();
    let limits: ReturnType<typeof checkSpawnOptions> | undefined;
    // Tracked like a call of several steps: release() must not close the handles under it.
    const attached = await this.#steps(op, () =>
      this.#call(
        op,
        () => {
          const args = checkArgv(argv);
          limits = checkSpawnOptions(options, pipeStdin);
          checkExecSize(args, limits.native, op, this.name);
          if (limits.signal?.aborted) throw new AbortError(undefined, { cause: limits.signal.reason });
          const nativeOptions = program === undefined ? limits.native : { ...limits.native, program };
          // Through the lxcts-attach helper, so that liblxc forks it rather than this whole
          // process (addon/attach_server.cc); in-process when the helper cannot take it.
          const attach: Attach = (a, o) => binding.attachRemote(this.name, this.lxcpath ?? null, a, o) ?? this.#attachHandles.use((n) => n.attach(a, o));
          return () =>
            this.#resident !== undefined && program === undefined ? this.#resident.attach(args, nativeOptions, attach) : attach(args, nativeOptions);
        },
        { order: 'after-queued', step: true },
      ),
    );
    const { timeout, signal } = limits!;
    const parts = fromAttached(attached, new binding.NativeProcess(attached.pid, attached.pidfd, attached.statusFd), binding, collect);
    return new ContainerProcess(this.#resident?.guard(attached, parts, op) ?? parts, { timeout, signal, op, container: this.name });
  }

  /**
   * The container's global IP addresses (no loopback, no link-local). With `timeout`,
   * waits until at least one appears.
   */
  ipAddresses(options: IpAddressOptions = {}): Promise<string[]> {
    return this.#steps('ipAddresses', () => this.#ipAddresses(options));
  }

  async #ipAddresses(options: IpAddressOptions): Promise<string[]> {
    const o = expectOptions<IpAddressOptions>(options, 'ipAddresses options');
    const family = expectOptionalStringWithoutNul(o.family, 'family') ?? null;
    if (family !== null && family !== 'inet' && family !== 'inet6') {
      throw new TypeError(`Expected "inet" or "inet6" for family but received "${family}"`);
    }
    const iface = expectOptionalStringWithoutNul(o.interface, 'interface') ?? null;
    const scope = ops.checkScope(o.scope);
    const read = (): Promise<string[]> =>
      scope === null
        ? this.#call('ipAddresses', () => (n) => n.ipAddresses(iface, family), { step: true })
        : this.#call('ipAddresses', () => () => ops.scopedAddresses(this.name, this.lxcpath, iface, family, scope), { step: true });
    const timeout = o.timeout === undefined ? 0 : timeoutSeconds(o.timeout, 'ipAddresses timeout', 0);
    const deadline = timeout < 0 ? Infinity : Date.now() + timeout * 1000;
    for (;;) {
      const ips = await read();
      if (ips.length > 0 || o.timeout === undefined) return ips;
      if (Date.now() >= deadline) {
        throw new LxcError(`container "${this.name}" got no IP address within ${o.timeout} s`, {
          code: 'LXC_TIMEOUT',
          op: 'ipAddresses',
          container: this.name,
        });
      }
      await sleep(IP_POLL_MS);
    }
  }

  /** Network interfaces inside the container, including lo. */
  interfaces(): Promise<string[]> {
    return this.#call('interfaces', () => (n) => n.interfaces());
  }

  /** Bytes received and sent per interface, as counted inside the container. */
  async interfaceStats(): Promise<Record<string, InterfaceStats>> {
    const pid = await this.initPid();
    if (pid === null) {
      throw new LxcError(`container "${this.name}" is not running`, { code: 'LXC_NOT_RUNNING', op: 'interfaceStats', container: this.name });
    }
    return parseNetDev(await readFile(`/proc/${pid}/net/dev`, 'utf8'));
  }

  /** CPU time used by the container since it started, in nanoseconds. */
  cpuStats(): Promise<CpuStats> {
    return this.#steps('cpuStats', () => cpuStats(this.#cgroupRead, this.name, native().clockTicks()));
  }

  /** Memory in use by the container, in bytes. */
  memoryUsage(): Promise<number> {
    return this.#steps('memoryUsage', () => memoryUsage(this.#cgroupRead, this.name));
  }

  /** The container's memory limit in bytes, or null when it has none. */
  memoryLimit(): Promise<number | null> {
    return this.#steps('memoryLimit', () => memoryLimit(this.#cgroupRead, this.name));
  }

  /** Sets the running container's memory limit (null removes it). Not saved to the config. */
  async setMemoryLimit(bytes: number | null): Promise<void> {
    if (bytes !== null && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0)) {
      throw new TypeError(`Expected a positive integer number of bytes or null for the memory limit but received ${String(bytes)}`);
    }
    const write = (key: string, value: string) => this.#call('setCgroupItem', () => (n) => n.setCgroupItem(key, value), { step: true });
    await this.#steps('setMemoryLimit', () => setMemoryLimit(this.#cgroupRead, write, this.name, bytes));
  }

  /** Bytes read from and written to block devices by the container. */
  blkioUsage(): Promise<BlkioUsage> {
    return this.#steps('blkioUsage', () => blkioUsage(this.#cgroupRead, this.name));
  }

  /** The soft memory limit in bytes (v1 memory.soft_limit_in_bytes, v2 memory.low), or null when none is set. */
  softMemoryLimit(): Promise<number | null> {
    return this.#steps('softMemoryLimit', () => statsExtras.softMemoryLimit(this.#cgroupRead, this.name));
  }

  /** Sets the running container's soft memory limit (null removes it). Not saved to the config. */
  setSoftMemoryLimit(bytes: number | null): Promise<void> {
    return this.#setLimit('setSoftMemoryLimit', 'the soft memory limit', bytes, statsExtras.setSoftMemoryLimit);
  }

  /** Kernel memory in use, in bytes (v1 memory.kmem.usage_in_bytes, v2 memory.stat `kernel`). */
  kernelMemoryUsage(): Promise<number> {
    return this.#steps('kernelMemoryUsage', () => statsExtras.kernelMemoryUsage(this.#cgroupRead, this.name));
  }

  /** The kernel memory limit in bytes, or null when unlimited; LXC_STAT_UNAVAILABLE on cgroup v2, which has none. */
  kernelMemoryLimit(): Promise<number | null> {
    return this.#steps('kernelMemoryLimit', () => statsExtras.kernelMemoryLimit(this.#cgroupRead, this.name));
  }

  /** Memory plus swap in use, in bytes, as go-lxc's MemorySwapUsage (LXC_STAT_UNAVAILABLE without swap accounting). */
  memorySwapUsage(): Promise<number> {
    return this.#steps('memorySwapUsage', () => statsExtras.memorySwapUsage(this.#cgroupRead, this.name));
  }

  /** The memory-plus-swap limit in bytes, or null when unlimited (LXC_STAT_UNAVAILABLE without swap accounting). */
  memorySwapLimit(): Promise<number | null> {
    return this.#steps('memorySwapLimit', () => statsExtras.memorySwapLimit(this.#cgroupRead, this.name));
  }

  /**
   * Sets the running container's memory-plus-swap limit (null removes it). Not saved to the
   * config. On cgroup v1 it must be at least the memory limit (set that first, remove it
   * last); on v2 it needs a memory limit and sets the swap part of it.
   */
  setMemorySwapLimit(bytes: number | null): Promise<void> {
    return this.#setLimit('setMemorySwapLimit', 'the memory+swap limit', bytes, statsExtras.setMemorySwapLimit);
  }

  /** A limit setter of the stats extras, after the bytes are checked, writing through setCgroupItem. */
  async #setLimit(op: string, what: string, bytes: number | null, set: typeof statsExtras.setSoftMemoryLimit): Promise<void> {
    if (bytes !== null && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0)) {
      throw new TypeError(`Expected a positive integer number of bytes or null for ${what} but received ${String(bytes)}`);
    }
    const write = (key: string, value: string) => this.#call('setCgroupItem', () => (n) => n.setCgroupItem(key, value), { step: true });
    await this.#steps(op, () => set(this.#cgroupRead, write, this.name, bytes));
  }

  /** CPU time used per CPU since the container started, in nanoseconds, index = CPU number (cgroup v1 only). */
  cpuTimePerCpu(): Promise<number[]> {
    return this.#steps('cpuTimePerCpu', () => statsExtras.cpuTimePerCpu(this.#cgroupRead, this.name));
  }

  /**
   * Makes the host's device node `source` (e.g. "/dev/net/tun") available in the running
   * container at `dest` (default: the same path) and allows it in the device cgroup. liblxc
   * reads the device's numbers from `dest` on the host, so a `dest` must be the same device
   * there too; LXC_DEVICE_FAILED otherwise.
   */
  addDeviceNode(source: string, dest?: string): Promise<void> {
    return this.#call('addDeviceNode', () => ops.addDeviceNode(this.name, this.lxcpath, source, dest));
  }

  /** Removes a device node addDeviceNode() made and denies it in the device cgroup again. */
  removeDeviceNode(source: string, dest?: string): Promise<void> {
    return this.#call('removeDeviceNode', () => ops.removeDeviceNode(this.name, this.lxcpath, source, dest));
  }

  /** Moves the host's network interface `device` into the running container, named `dest` there (default: the same). */
  attachInterface(device: string, dest?: string): Promise<void> {
    return this.#call('attachInterface', () => ops.attachInterface(this.name, this.lxcpath, device, dest));
  }

  /** Moves the container's interface `device` back to the host, named `dest` there (default: the same). */
  detachInterface(device: string, dest?: string): Promise<void> {
    return this.#call('detachInterface', () => ops.detachInterface(this.name, this.lxcpath, device, dest));
  }

  /**
   * Checkpoints the running container with CRIU into `directory` (made, mode 0700, if
   * missing). LXC_CRIU_UNAVAILABLE names what is missing: criu itself, or what
   * `criu check` says this machine lacks.
   */
  checkpoint(directory: string, options: ops.CheckpointOptions = {}): Promise<void> {
    return this.#call('checkpoint', () => ops.checkpoint(this.name, this.lxcpath, directory, options));
  }

  /** Restores the (stopped) container from a checkpoint() directory; it then runs. Errors as checkpoint(). */
  restore(directory: string, options: ops.RestoreOptions = {}): Promise<void> {
    return this.#call('restore', () => ops.restore(this.name, this.lxcpath, directory, options));
  }

  /** One step of a migration through CRIU (liblxc's migrate): pre-dump, dump, restore or feature-check. Errors as checkpoint(). */
  migrate(command: ops.MigrateCommand, options: ops.MigrateOptions): Promise<void> {
    return this.#call('migrate', () => ops.migrate(this.name, this.lxcpath, command, options));
  }

  /** getCgroupItem() as a step of a call already made (the keys are the stats module's own). */
  readonly #cgroupItem = (key: string): Promise<string> => this.#call('getCgroupItem', () => (n) => n.getCgroupItem(key), { step: true });

  #cgroupFiles: CgroupFiles | undefined;

  /** The stats' reads: straight from the kernel where cgroup-files.ts can, one native read per call. */
  readonly #cgroupRead: CgroupReader = (keys) =>
    (this.#cgroupFiles ??= new CgroupFiles(
      this.name,
      () => this.#call('initPidFd', () => (n) => n.initPidFd(), { step: true }),
      this.#cgroupItem,
      (read) => this.#call('getCgroupItem', () => async () => read(), { step: true }),
    )).read(keys);

  /** Copies (or snapshots) this container under a new name and returns the copy. */
  async clone(newName: string, options: CloneOptions = {}): Promise<Container> {
    const target = checkName(newName);
    const o = expectOptions<CloneOptions>(options, 'clone options');
    const lxcpath = checkLxcpath(o.lxcpath) ?? this.lxcpath;
    const snapshot = expectBoolean(o.snapshot, 'snapshot', false);
    const backend = expectOptionalStringWithoutNul(o.backend, 'backend') ?? null;
    const keepName = expectBoolean(o.keepName, 'keepName', false);
    const keepMac = expectBoolean(o.keepMac, 'keepMac', false);
    const newSize = checkBytes(o.newSize, 'newSize') ?? 0;
    const hookArgs = checkHookArgs(o.hookArgs);
    await this.#call('clone', () => async (n) => {
      // The source's own lxcpath holds the source: nothing to make (a thread-pool trip less
      // per clone); if it is gone, the helper answers LXC_NOT_DEFINED as before.
      const dir = lxcpath !== undefined && lxcpath === this.lxcpath ? lxcpath : await makeLxcpath(lxcpath, 'clone', this.name);
      await requireBackend(backend, dir, 'clone', this.name);
      return n.clone(target, lxcpath ?? null, snapshot, backend, keepName, keepMac, newSize, hookArgs);
    });
    return new Container(target, { lxcpath });
  }

  /** Takes a snapshot of the (stopped) container; resolves with its name, e.g. "snap0". */
  snapshot(options: SnapshotOptions = {}): Promise<string> {
    return this.#call('snapshot', () => {
      const comment = checkComment(expectOptions<SnapshotOptions>(options, 'snapshot options').comment);
      return (n) => n.snapshot(comment);
    });
  }

  /** The container's snapshots, oldest first, each with its comment. */
  async snapshots(): Promise<SnapshotInfo[]> {
    return withComments(await this.#call('snapshots', () => (n) => n.snapshots()));
  }

  /** Restores a snapshot over this container, or as a new container named `newName`. */
  restoreSnapshot(snapshot: string, newName?: string): Promise<void> {
    return this.#call('restoreSnapshot', () => {
      const name = checkName(snapshot, 'snapshot', 'restoreSnapshot');
      const target = newName === undefined ? null : checkName(newName);
      return (n) => n.restoreSnapshot(name, target);
    });
  }

  destroySnapshot(snapshot: string): Promise<void> {
    return this.#call('destroySnapshot', () => {
      const name = checkName(snapshot, 'snapshot', 'destroySnapshot');
      return (n) => n.destroySnapshot(name);
    });
  }

  /** Destroys every snapshot of the container and keeps the container (liblxc's snapshot_destroy_all). */
  destroyAllSnapshots(): Promise<void> {
    return this.#call('destroyAllSnapshots', () => (n) => n.destroyAllSnapshots());
  }

  /**
   * Renames the stopped container (liblxc copies it under the new name, then destroys the
   * original) and returns a Container for the new name; this object keeps the old name,
   * which no longer exists. A container with snapshots fails with LXC_HAS_SNAPSHOTS.
   */
  async rename(newName: string): Promise<Container> {
    const target = checkName(newName, 'container', 'rename');
    await this.#call('rename', () => (n) => n.rename(target));
    return new Container(target, { lxcpath: this.lxcpath });
  }

  /** The path of the container's config file (LXCPATH/NAME/config). */
  configFileName(): Promise<string> {
    return this.#call('configFileName', () => (n) => n.configFileName());
  }

  /** The lxcpath liblxc uses for this container: `lxcpath`, or liblxc's default when none was given. */
  configPath(): Promise<string> {
    return this.#call('configPath', () => (n) => n.configPath());
  }

  /**
   * Reads a config file into this object's in-memory config, on top of what is there
   * (clearConfig() first to replace it); saveConfig() writes the result.
   */
  loadConfig(path: string): Promise<void> {
    return this.#call('loadConfig', () => {
      const p = checkConfigFile(path);
      return (n) => n.loadConfig(p);
    });
  }

  /** Empties this object's in-memory config (the file on disk is untouched until saveConfig()). */
  clearConfig(): Promise<void> {
    return this.#call('clearConfig', () => (n) => n.clearConfig());
  }

  /** Whether this process may control the container: false when its monitor's socket refuses us (liblxc's may_control). */
  controllable(): Promise<boolean> {
    return this.#call('controllable', () => (n) => n.controllable());
  }

  /**
   * A pidfd for the running container's init, which the caller owns: close() it (or
   * `using`). It stays valid if the init exits, and never refers to another process.
   */
  async initPidFd(): Promise<PidFd> {
    const fd = await this.#call('initPidFd', () => (n) => n.initPidFd());
    return new PidFd(fd, new (native().NativeFd)(fd));
  }

  /**
   * Bounds this object's calls to the container's monitor (state, initPid, stop...) to
   * `seconds`. liblxc has this from LXC 6.0; before, it fails with LXC_UNSUPPORTED.
   */
  setMonitorTimeout(seconds: number): Promise<void> {
    return this.#call('setMonitorTimeout', () => {
      const timeout = timeoutSeconds(seconds, 'monitor timeout', 0);
      return (n) => n.setMonitorTimeout(timeout);
    });
  }

  /**
   * Attaches to the running container's console (`tty: 0`) or a tty (default: the first
   * free one, as lxc-console) on a pseudo-terminal. LXC_CONSOLE_BUSY when it is attached
   * elsewhere or does not exist; see ContainerConsole (console.ts).
   */
  console(options: ConsoleOptions = {}): Promise<ContainerConsole> {
    return this.#call('console', () => {
      const o = checkConsoleOptions(options);
      const binding = native();
      return (n) => n.consoleOpen(o.tty, o.cols, o.rows).then((fds) => new ContainerConsole(fds, binding));
    });
  }

  /**
   * What the running container's console printed since the last read (liblxc moves its
   * read position), decoded as UTF-8 (a character cut by the ring buffer's edge reads as U+FFFD). Needs `lxc.console.buffer.size` set before start,
   * else LXC_CONSOLE_LOG_UNAVAILABLE.
   */
  consoleLog(options: ConsoleLogOptions = {}): Promise<string> {
    return this.#call('consoleLog', () => {
      const clear = expectBoolean(expectOptions<ConsoleLogOptions>(options, 'consoleLog options').clear, 'clear', false);
      return (n) => n.consoleLog(clear);
    });
  }

  /** This container's state changes as they happen: watch() (events.ts) for this one name. */
  watch(options: Pick<WatchOptions, 'signal'> = {}): Promise<ContainerEvents> {
    return watch({ signal: expectOptions<WatchOptions>(options, 'watch options').signal, lxcpath: this.lxcpath, containers: [this.name] });
  }

  /**
   * Drops this object's liblxc reference once the calls already queued have finished.
   * Later calls fail with LXC_RELEASED. The container itself is untouched.
   */
  release(): Promise<void> {
    if (this.#releasing) return this.#releasing;
    this.#released = true;
    this.#releasing = (async () => {
      // Calls made before release() may still queue steps (cpuStats reads two files,
      // ipAddresses polls): the handle goes once they have all finished.
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
      await this.#queue.run(async () => {
        this.#native.release();
        this.#cgroupFiles?.close();
        await this.#attachHandles.release();
        await this.#resident?.close();
      });
    })();
    return this.#releasing;
  }

  get released(): boolean {
    return this.#released;
  }

  /**
   * A call made of several native steps. Once made, it runs to the end even if release()
   * comes next (the documented "once queued calls finish"); release() waits for it.
   */
  #steps<T>(op: string, run: () => Promise<T>): Promise<T> {
    if (this.#released) return Promise.reject(this.#releasedError(op));
    let result: Promise<T>;
    try {
      result = run();
    } catch (err) {
      return Promise.reject(err);
    }
    this.#inflight.add(result);
    const forget = () => this.#inflight.delete(result);
    result.then(forget, forget);
    return result;
  }

  #releasedError(op: string): LxcError {
    return new LxcError(`container "${this.name}" was released`, { code: 'LXC_RELEASED', op, container: this.name });
  }

  /**
   * Validates arguments (prepare), then runs the native call in this object's queue.
   * Rejections carry the caller's stack, not just the addon's.
   */
  #call<T>(
    op: string,
    prepare: () => (n: NativeContainer) => Promise<T>,
    { order = 'queued', step = false }: { order?: CallOrder; step?: boolean } = {},
  ): Promise<T> {
    const callSite: { stack?: string } = {};
    Error.captureStackTrace(callSite, this.#call);
    // A step of a call made before release() goes ahead: release() waits for that call.
    if (this.#released && !step) return Promise.reject(this.#releasedError(op));
    let invoke: (n: NativeContainer) => Promise<T>;
    try {
      invoke = prepare();
    } catch (err) {
      return Promise.reject(err);
    }
    const run = () => invoke(this.#native);
    const result = order === 'queued' ? this.#queue.run(run) : order === 'now' ? run() : this.#queue.drained().then(run);
    return result.catch((err: unknown) => {
      throw withCallerStack(err, callSite.stack);
    });
  }
}

function withCallerStack(err: unknown, callerStack: string | undefined): unknown {
  if (err instanceof Error && callerStack) {
    const frames = callerStack.split('\n').slice(1).join('\n');
    err.stack = `${err.name}: ${err.message}\n${frames}`;
  }
  return err;
}

/**
 * Makes a missing lxcpath (mode 0755, as lxc-create does, liblxc's default one too) so that
 * liblxc can create the container's directory in it.
 */
async function makeLxcpath(lxcpath: string | undefined, op: string, container: string): Promise<string> {
  const dir = lxcpath ?? (await native().defaultLxcpath());
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    const code = op === 'clone' ? 'LXC_CLONE_FAILED' : 'LXC_CREATE_FAILED';
    throw new LxcError(`cannot make the lxcpath ${dir}: ${(err as Error).message}`, { code, op, container });
  }
  return dir;
}

/** Cgroup keys name a file in the container's cgroup ("memory.max"): no path may reach further. */
function checkCgroupKey(key: unknown, op: string, container: string): string {
  const k = checkConfigText(key, 'key', op, container);
  if (k.includes('/')) {
    throw new LxcError(`invalid cgroup key ${JSON.stringify(k)}: it contains "/"`, { code: 'LXC_INVALID_CONFIG_KEY', op, container });
  }
  return k;
}
