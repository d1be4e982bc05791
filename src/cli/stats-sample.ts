/** One reading of a container's resource use, and CPU % from the difference of two. */
import { Container } from '../lxc/container';
import { BlkioUsage, InterfaceStats } from '../lxc/stats-parsers';

export interface StatsSample {
  name: string;
  /** When the sample was taken (ms since the epoch). */
  time: number;
  cpuNs: number;
  /** Share of one CPU used since the previous sample, or null for the first one. */
  cpuPercent: number | null;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  network: Record<string, InterfaceStats>;
  blkio: BlkioUsage;
}

export async function sampleStats(container: Container, previous: StatsSample | null): Promise<StatsSample> {
  const [cpu, memoryBytes, memoryLimitBytes, network, blkio] = await Promise.all([
    container.cpuStats(),
    container.memoryUsage(),
    container.memoryLimit(),
    container.interfaceStats(),
    container.blkioUsage(),
  ]);
  const time = Date.now();
  const cpuPercent = previous && time > previous.time ? ((cpu.usageNs - previous.cpuNs) / ((time - previous.time) * 1e6)) * 100 : null;
  return { name: container.name, time, cpuNs: cpu.usageNs, cpuPercent, memoryBytes, memoryLimitBytes, network, blkio };
}
