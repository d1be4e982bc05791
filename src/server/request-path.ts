/**
 * A request's path as components, each percent-decoded exactly once and checked: the one
 * place where a URL becomes names on disk.
 *
 * Taken from the raw request target, not from a URL parser's normalised path, so that
 * `..` and `%2e%2e` are seen and refused instead of quietly resolved. Refused (null):
 * undecodable escapes, and any component that decodes to '', '.', '..', or holds '/',
 * '\' or a control character (NUL included): `%2f` cannot smuggle a separator in, and a
 * doubly encoded `%252e%252e` decodes once to the harmless name `%2e%2e`. Names starting
 * with '.' are the publisher's own (`.versions`, pointer records, staging) and are never
 * served, so they are refused too.
 */

/** Longest request path accepted (PATH_MAX). */
export const MAX_REQUEST_PATH = 4096;

export interface RequestPath {
  components: string[];
  /** The path ended with '/' (a directory was asked for). */
  directory: boolean;
}

// eslint-disable-next-line no-control-regex
const BAD = /[/\\\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const BAD_IN_BRANCH = /[\\\x00-\x1f\x7f]/;

/** The raw path of a request URL (what the client sent, before any normalisation). */
export function rawPathOf(url: string): string {
  // The request target is absolute-form here (Hono hands a full URL): skip scheme and host.
  const start = url.indexOf('/', url.indexOf('://') + 3);
  if (start < 0) return '/';
  const end = url.search(/[?#]/);
  return end < 0 || end < start ? url.slice(start) : url.slice(start, end);
}

/**
 * The components of `raw` below `prefix` (e.g. '/binaries'), or null when refused. The
 * component at index `branchAt` may hold '/' (`feature%2Fx` names the branch `feature/x`):
 * the caller turns it into one file name with encodePointerName, never into a path.
 */
export function parseRequestPath(raw: string, prefix: string, branchAt = -1): RequestPath | null {
  if (raw.length > MAX_REQUEST_PATH) return null;
  if (raw !== prefix && !raw.startsWith(`${prefix}/`)) return null;
  const rest = raw.slice(prefix.length);
  const directory = rest === '' || rest.endsWith('/');
  const parts = rest.split('/').slice(1);
  if (directory) parts.pop();
  const components: string[] = [];
  for (const [index, part] of parts.entries()) {
    let name: string;
    try {
      name = decodeURIComponent(part);
    } catch {
      return null;
    }
    const bad = index === branchAt ? BAD_IN_BRANCH : BAD;
    if (name === '' || name === '.' || name === '..' || name.startsWith('.') || bad.test(name)) return null;
    components.push(name);
  }
  return { components, directory };
}
