/**
 * Summaries of containers for listings and `info`: what lxc-ls --fancy and lxc-info show.
 * A field that cannot be read for a container (it stopped meanwhile, a controller is
 * missing) is null in the summary rather than failing the whole listing.
 */
import { Container, ContainerState } from './container';
import { isLxcError } from './errors';
import { listContainers, ListOptions } from './system';

export interface ContainerSummary {
  name: string;
  state: ContainerState;
  /** PID of init on the host, or null when not running. */
  pid: number | null;
  ipv4: string[];
  ipv6: string[];
  /** Memory in use in bytes, or null when not running or not readable. */
  memoryBytes: number | null;
}

export interface ContainerInfo extends ContainerSummary {
  lxcpath: string | null;
  defined: boolean;
  /** CPU time used in nanoseconds, or null when not running. */
  cpuNs: number | null;
  memoryLimitBytes: number | null;
  /** Bytes received and sent per interface, when running. */
  network: Record<string, { rxBytes: number; txBytes: number }>;
}

async function orNull<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (isLxcError(err)) return null;
    throw err;
  }
}

export async function summarize(container: Container): Promise<ContainerSummary> {
  const state = await container.state();
  const running = state === 'RUNNING' || state === 'FROZEN';
  const [pid, ipv4, ipv6, memoryBytes] = running
    ? await Promise.all([
        container.initPid(),
        orNull(() => container.ipAddresses({ family: 'inet' })),
        orNull(() => container.ipAddresses({ family: 'inet6' })),
        orNull(() => container.memoryUsage()),
      ])
    : [null, [], [], null];
  return { name: container.name, state, pid, ipv4: ipv4 ?? [], ipv6: ipv6 ?? [], memoryBytes };
}

export async function inspect(container: Container): Promise<ContainerInfo> {
  const summary = await summarize(container);
  const running = summary.pid !== null;
  const [defined, cpu, memoryLimitBytes, network] = await Promise.all([
    container.defined(),
    running ? orNull(() => container.cpuStats()) : null,
    running ? orNull(() => container.memoryLimit()) : null,
    running ? orNull(() => container.interfaceStats()) : null,
  ]);
  return {
    ...summary,
    lxcpath: container.lxcpath ?? null,
    defined,
    cpuNs: cpu?.usageNs ?? null,
    memoryLimitBytes,
    network: network ?? {},
  };
}

/** Every container of an lxcpath, summarised, in name order. */
export async function listSummaries(options: ListOptions = {}): Promise<ContainerSummary[]> {
  const names = await listContainers(options);
  return Promise.all(
    names.map(async (name) => {
      const container = new Container(name, { lxcpath: options.lxcpath });
      try {
        return await summarize(container);
      } finally {
        await container.release();
      }
    }),
  );
}
