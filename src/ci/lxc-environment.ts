/**
 * The BuildEnvironment of a real build: a scratch filesystem of the job's disk limit with the
 * checkout in it, and an unprivileged overlay clone of the base (build-container.ts) that runs
 * each step through exec. The lifecycle is described in build-environment.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';

import { Container, exitCodeOf, isLxcError, listContainers } from '../index';
import { ensureHostBase, HOST_BASE } from './bases';
import { BUILD_CONTAINER_PREFIX, cloneBuildContainer, destroyBuildContainer, handToContainerRoot, startBuildContainer } from './build-container';
import { BuildEnvironment, BuildRuntime, EnvironmentSpec, Leftovers, StepExit, StepRun } from './build-environment';
import { buildFirewallFor, buildInterface, installBuildFirewall } from './build-firewall';
import { DataDir } from './data-dir';
import { checkout } from './git';
import { buildIdRange } from './id-range';
import { CheckoutTooBigError, limitHit, Limits } from './limits';
import { ScratchDisk, sweepScratch } from './scratch-disk';

export interface LxcRuntimeOptions {
  /** Bridge for jobs with `network: true`. Default: lxcbr0. */
  bridge?: string;
}

export class LxcRuntime implements BuildRuntime {
  constructor(
    private readonly data: DataDir,
    private readonly options: LxcRuntimeOptions = {},
  ) {
    // Builds run unprivileged: without root's id range, refuse now (a worker at start-up),
    // with the fix, rather than fail every build.
    buildIdRange();
  }

  async ensureBase(base: string): Promise<void> {
    if (base === HOST_BASE) await ensureHostBase(this.data.bases);
  }

  environment(spec: EnvironmentSpec): BuildEnvironment {
    return new LxcBuildEnvironment(this.data, this.options.bridge ?? 'lxcbr0', spec);
  }

  async sweep(running: Array<{ id: number; container: string | null }>): Promise<void> {
    // Containers no live build owns: a dead builder's, or one killed between clone and record.
    const live = new Set(running.map((b) => b.container));
    for (const name of await listContainers({ lxcpath: this.data.containers })) {
      if (name.startsWith(BUILD_CONTAINER_PREFIX) && !live.has(name)) {
        await destroyBuildContainer(name, this.data.containers).catch(() => undefined);
      }
    }
    // Then their scratch filesystems (mounts, loop devices, images), once no container uses them.
    await sweepScratch(this.data.workspaces, new Set(running.map((b) => String(b.id))));
  }
}

/** A daemon started in the background keeps a step's output pipes open after it exits. */
const OUTPUT_DRAIN_MS = 2000;

class LxcBuildEnvironment implements BuildEnvironment {
  readonly name: string;
  #workspace: string;
  #limits: Limits | undefined;
  #scratch: ScratchDisk | undefined;
  #container: Container | undefined;
  /** The same container for the steps, through the exec fast path (src/lxc/resident-exec.ts). */
  #steps: Container | undefined;
  /** How long the scratch disk, the checkout and the clone took, for the note `start` writes. */
  #prepared = '';
  #cloneMs = 0;

  constructor(
    private readonly data: DataDir,
    private readonly bridge: string,
    private readonly spec: EnvironmentSpec,
  ) {
    this.name = `${BUILD_CONTAINER_PREFIX}${spec.id}`;
    this.#workspace = path.join(data.workspaces, String(spec.id));
  }

  async prepare(limits: Limits): Promise<void> {
    this.#limits = limits;
    let phaseStart = performance.now();
    // The checkout and the container's writes share one size-limited filesystem: the disk limit.
    this.#scratch = await ScratchDisk.create(this.data.workspaces, String(this.spec.id), limits.disk);
    this.#workspace = this.#scratch.workspace;
    const scratchMs = performance.now() - phaseStart;
    phaseStart = performance.now();
    // The container's clone needs no checkout: both are made at once (git in child processes,
    // the clone in liblxc), and neither is left running when the other fails.
    const since = (t: number) => (performance.now() - t).toFixed(1);
    let checkoutMs = '';
    let cloneMs = '';
    const [checkedOut, cloned] = await Promise.allSettled([
      checkout(this.spec.mirror, this.spec.commit, this.#workspace)
        .catch((err: Error) => {
          throw /No space left on device/.test(err.message) ? new CheckoutTooBigError(limits.disk, err) : err;
        })
        .then(() => handToContainerRoot(this.data.bases, this.spec.base, this.#workspace))
        .finally(() => (checkoutMs = since(phaseStart))),
      cloneBuildContainer({
        basesPath: this.data.bases,
        containersPath: this.data.containers,
        base: this.spec.base,
        name: this.name,
        workspace: this.#workspace,
        upper: this.#scratch.upper,
      }).finally(() => (cloneMs = since(phaseStart))),
    ]);
    if (cloned.status === 'fulfilled') this.#container = cloned.value;
    // A missing base says more than the checkout's failure that follows from it.
    if (cloned.status === 'rejected') throw cloned.reason;
    if (checkedOut.status === 'rejected') throw checkedOut.reason;
    this.#prepared = `scratch disk ${scratchMs.toFixed(1)} ms, checkout ${checkoutMs} ms beside the container's clone ${cloneMs} ms`;
    this.#cloneMs = Number(cloneMs);
  }

  async start(): Promise<void> {
    const { limits, scratch } = this.#ready();
    const container = this.#running();
    const phaseStart = performance.now();
    const firewall = buildFirewallFor(this.data.root);
    if (this.spec.job.network) await installBuildFirewall(firewall, this.bridge);
    await startBuildContainer(container, {
      basesPath: this.data.bases,
      containersPath: this.data.containers,
      base: this.spec.base,
      name: this.name,
      workspace: this.#workspace,
      job: this.spec.job,
      limits,
      upper: scratch.upper,
      bridge: this.bridge,
      hostInterface: buildInterface(firewall, this.spec.id),
    });
    this.#steps = new Container(this.name, { lxcpath: this.data.containers, exec: 'resident' });
    // Where a build's first seconds go, for people and for bench/ (workload 7): ready = the
    // clone (made beside the checkout) + configuration + start.
    const startMs = performance.now() - phaseStart;
    this.spec.note(`${this.#prepared}, container ${this.name} ready in ${(this.#cloneMs + startMs).toFixed(1)} ms (config and start ${startMs.toFixed(1)} ms)`);
  }

  async run(step: StepRun): Promise<StepExit> {
    const container = this.#steps ?? this.#running();
    const proc = await container.spawn(['/bin/sh', '-c', step.command], { cwd: step.cwd, env: step.env, timeout: step.timeout, signal: step.signal });
    // Steps get end-of-file on stdin, as on any CI: a prompt must not wait for the timeout.
    proc.stdin.end();
    proc.stdout.on('data', step.output);
    proc.stderr.on('data', step.output);
    // Ended or closed, with or without an error: either way no more output comes.
    const outputDone = Promise.all([proc.stdout, proc.stderr].map((stream) => finished(stream, { writable: false }).catch(() => undefined)));
    let exit;
    try {
      exit = await proc.wait();
    } catch (err) {
      if ((err as Error).name === 'AbortError') return { kind: 'cancelled' };
      if (isLxcError(err) && err.code === 'LXC_TIMEOUT') return { kind: 'timed-out' };
      throw err;
    }
    // A daemon started in the background (`redis-server &`) keeps the output pipes open
    // after the step exits; give the output a moment, then stop waiting for it.
    const drained = new AbortController();
    await Promise.race([outputDone, delay(OUTPUT_DRAIN_MS, undefined, { signal: drained.signal }).catch(() => undefined)]);
    drained.abort();
    proc.stdout.destroy();
    proc.stderr.destroy();
    return { kind: 'exited', exitCode: exitCodeOf(exit) };
  }

  async limitHit(): Promise<string | null> {
    return limitHit(this.#running(), this.#ready().limits, this.#ready().scratch.dir);
  }

  /**
   * Nothing of the build may run while its output is read: a process left in the background
   * could swap a file for a link to a host file under the collector. Stop is a SIGKILL of the
   * container's init, which kills every process of the build.
   */
  async collect(): Promise<string> {
    const container = this.#running();
    if (await container.running()) await container.stop();
    if (await container.running()) throw new Error('the build container did not stop; its output was not collected');
    this.spec.note(`build container ${this.name} stopped`);
    return this.#workspace;
  }

  async destroy(): Promise<Leftovers> {
    const leftovers: Leftovers = {};
    await this.#steps?.release().catch(() => undefined);
    // The handle goes first (its own failure is reported), then the container by name.
    const released = await this.#container?.release().then(
      () => null,
      (err: Error) => err.message,
    );
    try {
      await destroyBuildContainer(this.name, this.data.containers);
      if (released) leftovers.container = released;
    } catch (err) {
      leftovers.container = (err as Error).message;
    }
    try {
      if (this.#scratch) await this.#scratch.remove();
      else fs.rmSync(this.#workspace, { recursive: true, force: true });
    } catch (err) {
      leftovers.workspace = (err as Error).message;
    }
    return leftovers;
  }

  #ready(): { limits: Limits; scratch: ScratchDisk } {
    if (!this.#limits || !this.#scratch) throw new Error(`build environment ${this.name} used before prepare()`);
    return { limits: this.#limits, scratch: this.#scratch };
  }

  #running(): Container {
    if (!this.#container) throw new Error(`build environment ${this.name} used before start()`);
    return this.#container;
  }
}
