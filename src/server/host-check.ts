/**
 * The DNS rebinding guard: a request is answered only when its Host header names this
 * server. A page of another site cannot read the dashboard's answers (the same-origin
 * policy), unless its own name is made to resolve to the dashboard's address: then the
 * browser sends that name (`Host: evil.example:8090`), and the page reads logs, binaries
 * and docs of a dashboard that listens on loopback without a read token. Refusing the
 * names the server does not know ends that.
 *
 * Always accepted: IP literals (a page whose origin is the server's own address is the
 * server's own page: nothing to rebind), `localhost` (browsers resolve it themselves), and
 * no Host at all (HTTP/1.0 probes; a browser always sends one). Added: the listen host, the
 * --public-url's host, each --allowed-host; `*` turns the check off (behind a proxy that
 * checks Host itself). Ports are not compared: a rebinding page has a name of its own, and
 * a proxy in front may use another port. A request carrying one of the server's tokens
 * (`trusted`) passes whatever its Host: a page can send only a token it knows, and workers
 * on other machines, `ci rerun` or Prometheus reach the server by whatever name they were
 * given.
 */
import { isIP } from 'node:net';

import type { Context, MiddlewareHandler } from 'hono';

/** The --allowed-host that turns the check off. */
export const ANY_HOST = '*';

/** A Host header's value: a DNS name or IPv4 address, or an IPv6 address in brackets; an optional port. */
const HOST_HEADER = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9_.-]+))(?::\d{1,5})?$/;
/** A DNS name's labels: 1 to 63 characters each (no empty one: `a..b`, `.a`). */
const isDnsName = (name: string) => name.length <= 253 && name.split('.').every((label) => label.length > 0 && label.length <= 63);

/** The name of a Host header's value: lower case, without port, brackets or trailing dot; null when it is no host. */
export function hostName(header: string): string | null {
  const m = HOST_HEADER.exec(header.trim());
  if (!m) return null;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? m[1].toLowerCase() : null;
  return (m[2] as string).toLowerCase().replace(/\.$/, '');
}

/**
 * An --allowed-host value as the check compares it (`NAME`, `NAME:PORT`, an IP address or
 * `*`); throws a sentence naming what is wrong.
 */
export function allowedHostName(value: string): string {
  if (value === ANY_HOST) return ANY_HOST;
  const name = hostName(value);
  if (name === null || (isIP(name) === 0 && !isDnsName(name))) {
    throw new Error(`"${value.slice(0, 100)}" is not a host name (a DNS name or IP address, optionally with :PORT), nor ${ANY_HOST}`);
  }
  return name;
}

/** Whether a request with this Host header (undefined: none) is for this server. */
export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (header === undefined || allowed.has(ANY_HOST)) return true;
  const name = hostName(header);
  return name !== null && (isIP(name) !== 0 || name === 'localhost' || allowed.has(name));
}

/**
 * Middleware answering 421 to a request whose Host is not one of `allowed` (names from
 * allowedHostName), unless `trusted` says it proves who sent it.
 */
export function hostCheck(allowed: readonly string[], trusted: (c: Context) => boolean = () => false): MiddlewareHandler {
  const names = new Set(allowed);
  return async (c, next) => {
    const host = c.req.header('host');
    if (hostAllowed(host, names) || trusted(c)) return next();
    const shown = JSON.stringify((host ?? '').slice(0, 100));
    return c.text(
      `421 Misdirected Request: this server does not answer to the host name ${shown} (a guard against DNS rebinding). ` +
        'Reach it at its IP address, at localhost, or at its --public-url; its operator can add names with --allowed-host.\n',
      421,
    );
  };
}
