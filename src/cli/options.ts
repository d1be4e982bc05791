/** Parsers for flag values that oclif leaves as strings. */
import { Errors } from '@oclif/core';

export function parseUser(user: string | undefined): { uid?: number; gid?: number } {
  if (user === undefined) return {};
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) throw new Errors.CLIError(`--user expects UID or UID:GID (numbers), got "${user}"`, { exit: 2 });
  return { uid: Number(match[1]), gid: match[2] === undefined ? undefined : Number(match[2]) };
}

export function parseEnv(pairs: string[] | undefined, flag = '--env'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Errors.CLIError(`${flag} expects KEY=VALUE, got "${pair}"`, { exit: 2 });
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/** "host:port" into its parts. */
export function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at < 0 || !Number.isInteger(port)) throw new Errors.CLIError(`expected HOST:PORT, got "${address}"`, { exit: 2 });
  return [address.slice(0, at), port];
}
