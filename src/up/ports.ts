/**
 * The ports `ci up` listens on: given ones are checked before anything is started (a taken
 * port is refused by name, not found out from a child's log), the others are free ones.
 */
import { once } from 'node:events';
import * as net from 'node:net';

/** Each listening socket of the system, by the name its flag and messages use. */
export const PORT_NAMES = ['lookupd-tcp', 'lookupd-http', 'nsqd-tcp', 'nsqd-http', 'webhook', 'dashboard'] as const;
export type PortName = (typeof PORT_NAMES)[number];

/** Who listens on each port, for the messages. */
const OWNERS: Record<PortName, string> = {
  'lookupd-tcp': "nsqlookupd's TCP port",
  'lookupd-http': "nsqlookupd's HTTP port",
  'nsqd-tcp': "nsqd's TCP port",
  'nsqd-http': "nsqd's HTTP port",
  webhook: "the webhook receiver's port",
  dashboard: "the dashboard's port (ci server)",
};

export class PortTakenError extends Error {
  readonly code = 'PORT_TAKEN';
  constructor(
    readonly portName: PortName,
    readonly host: string,
    readonly port: number,
    why: string,
  ) {
    super(`port ${port} on ${host} (${OWNERS[portName]}, --${portName}-port) is ${why}: stop what listens there or give another port`);
  }
}

/** Binds `host:port` (0: any free port) and closes again; the port bound. */
async function probe(host: string, port: number): Promise<number> {
  const server = net.createServer();
  // exclusive: a port another process shares through cluster must count as taken.
  server.listen({ host, port, exclusive: true });
  await once(server, 'listening');
  const bound = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return bound;
}

/**
 * A port for every name: `given[name]` once checked free on `hosts[name]`, else one the
 * kernel chose (distinct from the others). Throws PortTakenError for a given port in use.
 * A chosen port is free now, not reserved: another program may take it before the child
 * binds it, and that child then fails its start with the reason in its output.
 */
export async function choosePorts(hosts: Record<PortName, string>, given: Partial<Record<PortName, number>>): Promise<Record<PortName, number>> {
  const ports = {} as Record<PortName, number>;
  const used = new Set<number>();
  for (const name of PORT_NAMES) {
    const port = given[name];
    if (port === undefined) continue;
    if (used.has(port)) throw new PortTakenError(name, hosts[name], port, 'given twice');
    await probe(hosts[name], port).catch((err: NodeJS.ErrnoException) => {
      throw new PortTakenError(name, hosts[name], port, err.code === 'EADDRINUSE' ? 'taken' : `not usable (${err.code ?? err.message})`);
    });
    ports[name] = port;
    used.add(port);
  }
  for (const name of PORT_NAMES) {
    if (ports[name] !== undefined) continue;
    let port: number;
    do port = await probe(hosts[name], 0);
    while (used.has(port));
    ports[name] = port;
    used.add(port);
  }
  return ports;
}
