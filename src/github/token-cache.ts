/**
 * The App installation tokens' cache, handed to @octokit/auth-app: its own cache keeps a
 * token 59 minutes whatever `expires_at` said. This one forgets a token `marginMs` before
 * its expiry, so a token is always refreshed before it expires (a request never starts
 * with one that may lapse on the way).
 *
 * auth-app stores each token as `token|createdAt|expiresAt|...` (its cache.js): the third
 * field is read here and nothing else.
 */
export interface TokenCache {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

const MAX_ENTRIES = 1000;

export function expiringTokenCache(marginMs: number, now: () => number): TokenCache {
  const entries = new Map<string, string>();
  return {
    get(key) {
      const value = entries.get(key);
      if (value === undefined) return undefined;
      const expiresAt = Date.parse(value.split('|')[2] ?? '');
      if (Number.isNaN(expiresAt) || expiresAt - marginMs <= now()) {
        entries.delete(key);
        return undefined;
      }
      return value;
    },
    set(key, value) {
      // A server talks to a few installations: the bound only keeps a bug from growing it.
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
      entries.set(key, value);
    },
  };
}
