export { Container, CONTAINER_STATES } from './lxc/container';
export type {
  Backend,
  ContainerOptions,
  ContainerState,
  CreateOptions,
  DestroyOptions,
  ShutdownOptions,
  StartOptions,
  WaitOptions,
} from './lxc/container';
export { LxcError, isLxcError } from './lxc/errors';
export type { LxcErrorCode, LxcErrorProps } from './lxc/errors';
export { defaultLxcpath, isConfigKey, listContainers, lxcVersion } from './lxc/system';
export type { ListOptions, ListWhich } from './lxc/system';
