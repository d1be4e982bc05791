export { Container, CONTAINER_STATES } from './lxc/container';
export type {
  Backend,
  CloneOptions,
  ContainerOptions,
  IpAddressOptions,
  SnapshotInfo,
  ContainerState,
  CreateOptions,
  DestroyOptions,
  FreezeOptions,
  ShutdownOptions,
  StartOptions,
  WaitOptions,
} from './lxc/container';
export { AbortError, LxcError, isLxcError } from './lxc/errors';
export { ContainerProcess, exitCodeOf, KILL_GRACE_SECONDS } from './lxc/process';
export type { ExitStatus } from './lxc/process';
export type { ExecOptions, ExecResult, SpawnOptions } from './lxc/exec';
export type { ExecuteOptions } from './lxc/execute';
export type { PushFileOptions, PushTarResult } from './lxc/files';
export type { LxcErrorCode, LxcErrorProps } from './lxc/errors';
export { defaultLxcpath, isConfigKey, listContainers, lxcVersion } from './lxc/system';
export type { ListOptions, ListWhich } from './lxc/system';
export type { BlkioUsage, CpuStats, InterfaceStats } from './lxc/stats-parsers';
export { inspect, listSummaries, summarize } from './lxc/inspect';
export type { ContainerInfo, ContainerSummary } from './lxc/inspect';
