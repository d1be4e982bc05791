export { Container, CONTAINER_STATES } from './lxc/container';
export type { ExecMode } from './lxc/resident-exec';
export type {
  Backend,
  CloneOptions,
  ContainerOptions,
  IpAddressOptions,
  SnapshotInfo,
  SnapshotOptions,
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
export type { AttachNamespace, AttachOptions } from './lxc/attach-options';
export type { AddressScope, CheckpointOptions, CriuFeature, MigrateCommand, MigrateOptions, RestoreOptions } from './lxc/container-ops';
export type { ExecuteOptions } from './lxc/execute';
export type { FileCallOptions, PullTarOptions, PushFileOptions, PushTarResult } from './lxc/files';
export type { LxcErrorCode, LxcErrorProps } from './lxc/errors';
export { defaultLxcpath, isConfigKey, listContainers, lxcVersion } from './lxc/system';
export type { ListOptions, ListWhich } from './lxc/system';
export type { BlkioUsage, CpuStats, InterfaceStats } from './lxc/stats-parsers';
export { inspect, listSummaries, summarize } from './lxc/inspect';
export { ContainerConsole } from './lxc/console';
export type { ConsoleLogOptions, ConsoleOptions } from './lxc/console';
export { ContainerEvents, watch } from './lxc/events';
export type { ContainerEvent, WatchedState, WatchOptions } from './lxc/events';
export type { ContainerInfo, ContainerSummary } from './lxc/inspect';
export { containers } from './lxc/container-list';
export { GLOBAL_CONFIG_KEYS, globalConfigItem, hasApiExtension, lxcVersionAtLeast } from './lxc/liblxc';
export type { GlobalConfigKey } from './lxc/liblxc';
export { PidFd } from './lxc/pidfd';
export type { StorageOptions } from './lxc/storage';
