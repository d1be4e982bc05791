/**
 * Arguments and flags that several commands declare alike, defined once so their help text
 * and checks cannot drift apart (oclif's advice: share `Args`/`Flags` definitions).
 */
import { Args, Flags } from '@oclif/core';

/** The container a command works on: its first argument, NAME. */
export const containerArg = Args.string({ description: 'container name', required: true });

/** `--env KEY=VALUE` for a command run in a container (`exec`, `execute`); see parseEnv. */
export const envFlag = Flags.string({ char: 'e', description: 'environment variable KEY=VALUE (repeatable)', multiple: true });

/**
 * An old name a flag still answers to: hidden from help, and oclif prints one warning
 * naming the new flag when it is used (`--nsqd` meant nsqd's HTTP address to `ci webhook`
 * but its TCP address to `ci worker`; the new names say which).
 */
export function deprecatedAlias(name: string): { aliases: string[]; deprecateAliases: true } {
  return { aliases: [name], deprecateAliases: true };
}
