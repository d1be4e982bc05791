/**
 * The exact shape of the native addon (addon/addon.cc), and the code that loads it.
 * Everything here is internal: the public API is Container and the functions in system.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { NativeAttachExtras } from './attach-options';
import { LxcError } from './errors';

export interface NativeContainer {
  /** storage: bdev_specs as KEY=VALUE (fstype, fssize, zfsroot, vg, lv, thinpool, dir, rbdname, rbdpool). */
  create(template: string, args: string[], backend: string | null, quiet: boolean, storage: string[]): Promise<void>;
  start(args: string[]): Promise<void>;
  stop(): Promise<void>;
  shutdown(timeoutSeconds: number): Promise<void>;
  reboot(): Promise<void>;
  destroy(withSnapshots: boolean): Promise<void>;
  /** timeoutSeconds < 0: no limit. */
  freeze(timeoutSeconds: number): Promise<void>;
  unfreeze(timeoutSeconds: number): Promise<void>;
  wait(state: string, timeoutSeconds: number): Promise<void>;
  state(): Promise<string>;
  running(): Promise<boolean>;
  defined(): Promise<boolean>;
  initPid(): Promise<number | null>;
  getConfigItem(key: string): Promise<string>;
  setConfigItem(key: string, value: string): Promise<void>;
  clearConfigItem(key: string): Promise<void>;
  getRunningConfigItem(key: string): Promise<string | null>;
  configKeys(prefix: string | null): Promise<string[]>;
  saveConfig(path: string | null): Promise<void>;
  getCgroupItem(key: string): Promise<string>;
  setCgroupItem(key: string, value: string): Promise<void>;
  release(): void;
  attach(argv: string[], options: NativeAttachOptions): Promise<NativeAttached>;
  interfaces(): Promise<string[]>;
  ipAddresses(iface: string | null, family: string | null): Promise<string[]>;
  /** newSize: bytes, 0 for the source's size. */
  clone(
    newName: string,
    lxcpath: string | null,
    snapshot: boolean,
    backend: string | null,
    keepName: boolean,
    keepMac: boolean,
    newSize: number,
    hookArgs: string[],
  ): Promise<void>;
  /** comment: the text of the snapshot's comment file; null: none. */
  snapshot(comment: string | null): Promise<string>;
  snapshots(): Promise<Array<{ name: string; timestamp: string; commentPath: string; lxcpath: string }>>;
  restoreSnapshot(snapshot: string, newName: string | null): Promise<void>;
  destroySnapshot(snapshot: string): Promise<void>;
  configFileName(): Promise<string>;
  /** The lxcpath the handle uses (liblxc's get_config_path). */
  configPath(): Promise<string>;
  loadConfig(path: string): Promise<void>;
  clearConfig(): Promise<void>;
  controllable(): Promise<boolean>;
  /** A descriptor the caller owns (close-on-exec, above 2). */
  initPidFd(): Promise<number>;
  setMonitorTimeout(timeoutSeconds: number): Promise<void>;
  destroyAllSnapshots(): Promise<void>;
  rename(newName: string): Promise<void>;
  /** tty: -1 the first free tty, 0 the console (a proxy of it), N tty N; cols/rows 0: leave the size. */
  consoleOpen(tty: number, cols: number, rows: number): Promise<NativeConsole>;
  /** What the console printed since the last read ("" when nothing); clear empties the ring buffer. */
  consoleLog(clear: boolean): Promise<string>;
}

/** A tty handed over by the container's monitor (see addon/console.cc). */
export interface NativeConsole {
  tty: number;
  /** The command socket: the tty stays ours until it is closed. */
  socket: number;
  /** The terminal's master, non-blocking; `write` is a second descriptor for it. */
  read: number;
  write: number;
  /** The container's monitor, signalled after a resize of tty 0; 0 when none. */
  monitorPid: number;
  /** When that monitor started (/proc/PID/stat): a resize signals the pid only while it names that process. */
  monitorStart: number;
}

export interface NativeAttachOptions extends NativeAttachExtras {
  /** KEY=VALUE, set last. */
  env: string[];
  clearEnv: boolean;
  /**
   * Without clearEnv: the caller's process.env at call time (KEY=VALUE), which the command
   * starts from, under container=lxc and lxc.environment; with clearEnv, only the
   * variables of envToKeep, in the same place. The addon never passes on an
   * environment of its own (the helper's dates from its spawn).
   */
  callerEnv: string[];
  pipeStdin: boolean;
  /** null: the container's "/", never the calling process's working directory. */
  cwd: string | null;
  uid: number | null;
  gid: number | null;
  tty: boolean;
  cols: number;
  rows: number;
  /** A program of the host to run instead of argv[0] (lxcts-files); absent for the container's own commands. */
  program?: string;
}

/** File descriptors are the parent's ends of the pipes; -1 when there is none. */
export interface NativeAttached {
  pid: number;
  pidfd: number;
  /** The lxcts-attach helper's status socket for this command; -1 when this process is its parent. */
  statusFd: number;
  stdin: number;
  stdout: number;
  stderr: number;
  /** True when stdin and stdout are the two ends (write, read) of one pseudo-terminal master. */
  tty: boolean;
}

export interface NativeProcess {
  wait(): Promise<{ exitCode: number | null; signal: number | null }>;
  kill(signal: number): boolean;
}

/** A command's stdout and stderr read whole, without streams (addon/output_gather.h): exec() only. */
export interface NativeOutput {
  /** Both outputs once both reached end-of-file; rejects on a read error or close(). */
  done(): Promise<[Buffer, Buffer]>;
  /** Stops reading and closes both pipes. */
  close(): void;
}

/** A command's pipe read by the addon for spawn() (addon/output_stream.h); see output-stream.ts. */
export interface NativeOutputStream {
  /** Reads (again); onData gets chunks until pause(). */
  resume(): void;
  pause(): void;
  /** Stops reading and closes the pipe; later calls do nothing. */
  close(): void;
}

/** A descriptor this environment owns (addon/native_fd.h): closed once, and with a worker that ends. */
export interface NativeFd {
  /** -1 once closed. */
  readonly fd: number;
  /** One call of the constructor's onReady when the descriptor is ready; made with onReady only. */
  watch(readable: boolean, writable: boolean): void;
  stop(): void;
  /** Closes it now; later calls do nothing. */
  close(): void;
}

export interface NativeBinding {
  NativeContainer: new (name: string, lxcpath: string | null) => NativeContainer;
  NativeProcess: new (pid: number, pidfd: number, statusFd: number) => NativeProcess;
  /** Takes both descriptors over and reads them to their end. */
  OutputGather: new (stdout: number, stderr: number) => NativeOutput;
  /**
   * Takes `fd` over: onData gets each chunk, then null at end-of-file, or null, a message and the errno name on a
   * read error. With `sibling` (the same command's other output, open and unpaired) the two are a pair: before one
   * hands over a full chunk or its end, the other hands over the partial chunk it holds.
   */
  OutputStream: new (fd: number, onData: (chunk: Buffer | null, error?: string, code?: string) => void, sibling?: NativeOutputStream) => NativeOutputStream;
  /** Takes `fd` over; with onReady, makes it non-blocking and lets it be watched. */
  NativeFd: new (fd: number, onReady?: (status: number, events: number) => void) => NativeFd;
  /** Attaches through the lxcts-attach helper; null when it cannot take the request (attach in-process then). */
  attachRemote(name: string, lxcpath: string | null, argv: string[], options: NativeAttachOptions): Promise<NativeAttached> | null;
  /** Where the helper is; null stops using it (tests use this to run the in-process path). */
  setAttachHelper(path: string | null): void;
  /** The running helper's pid, or null when none runs (before the first exec, or once a helper has died: it is reaped as it dies). */
  attachHelperPid(): number | null;
  /** The exec fast path's connection to lxcts-resident (resident-exec.ts, addon/resident_client.h). */
  residentConnect(pidfd: number, fd: number, pid: number): { fd: number; depth: number };
  /** A command started by lxcts-resident; null for a request it does not take, 'gone' when it had ended. */
  residentExec(fd: number, depth: number, name: string, argv: string[], options: NativeAttachOptions): Promise<NativeAttached> | null | 'gone';
  setErrorClass(errorClass: typeof LxcError): void;
  listContainers(lxcpath: string | null, which: 'all' | 'active' | 'defined'): Promise<string[]>;
  defaultLxcpath(): Promise<string>;
  version(): string;
  clockTicks(): number;
  resizeTerminal(fd: number, cols: number, rows: number): boolean;
  configItemSupported(key: string): boolean;
  /** null: unknown key, or a known one without a value. */
  globalConfigItem(key: string): Promise<string | null>;
  hasApiExtension(name: string): boolean;
  /** Sets a console master's size; with a monitor pid (tty 0), tells the monitor to pass it on. */
  consoleResize(fd: number, cols: number, rows: number, monitorPid: number, monitorStart: number): boolean;
  /** A descriptor connected to lxc-monitord's socket for the lxcpath; null when none serves it. */
  monitorConnect(lxcpath: string): Promise<number | null>;
  /** Reads cgroup files on this thread (cgroup_reads.h); null once the init behind `pidfd` has exited, an entry null when unreadable. */
  readCgroupFiles(pidfd: number, paths: string[]): Array<string | null> | null;
  /** state() over the container's command socket from the event loop (monitor_state.h); null: ask liblxc instead. */
  monitorState(lxcpath: string, name: string): Promise<string> | null;
}

/**
 * The directory of lxcts's package.json, found upwards from here: dist/lxc/ when installed,
 * deeper when this file is compiled elsewhere (the bench's bench/out/src/lxc/).
 */
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..', '..');
  }
}

export const packageRoot = findPackageRoot(__dirname);

/** Where the addon may be, in the order tried. */
export function addonCandidates(): string[] {
  const candidates = [path.join(packageRoot, 'build', 'Release', 'lxcts.node'), path.join(packageRoot, 'build', 'Debug', 'lxcts.node')];
  const override = process.env.LXCTS_ADDON_PATH;
  return override ? [path.resolve(override), ...candidates] : candidates;
}

let loadedFrom: string | undefined;

function load(): NativeBinding {
  const failures: string[] = [];
  for (const candidate of addonCandidates()) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(candidate) as NativeBinding;
      binding.setErrorClass(LxcError);
      loadedFrom = candidate;
      const attachHelper = besideAddon('lxcts-attach');
      if (fs.existsSync(attachHelper)) binding.setAttachHelper(attachHelper);
      return binding;
    } catch (err) {
      failures.push(`  ${candidate}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    'lxcts: the native addon could not be loaded. Tried:\n' +
      failures.join('\n') +
      '\nFix: sudo bash scripts/setup-host.sh && npm rebuild lxcts' +
      ' (in a checkout of lxcts: npm run build:addon)',
  );
}

let cached: NativeBinding | undefined;

/** A file node-gyp built beside the loaded addon. */
function besideAddon(file: string): string {
  return path.join(path.dirname(loadedFrom!), file);
}

/** The lxcts-execute helper, built beside the addon (see addon/execute_helper.cc). */
export function executeHelperPath(): string {
  native();
  return besideAddon('lxcts-execute');
}

/** The lxcts-attach helper, built beside the addon (see addon/attach_server.cc). */
export function attachHelperPath(): string {
  native();
  return besideAddon('lxcts-attach');
}

/** lxcts-files, the program files.ts runs inside containers, built beside the addon (see addon/files_program.cc). */
export function filesProgramPath(): string {
  native();
  return besideAddon('lxcts-files');
}

/** lxcts-resident, the exec fast path's process in a container (see addon/resident_program.cc). */
export function residentProgramPath(): string {
  native();
  return besideAddon('lxcts-resident');
}

/** The addon, loaded on first use so that importing lxcts never throws. */
export function native(): NativeBinding {
  cached ??= load();
  return cached;
}
