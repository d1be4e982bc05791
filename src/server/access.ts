/**
 * Who may do what on the server. Two optional tokens, each read from a file:
 *
 * - the admin token (`ci server --admin-token-file`): re-run and cancel (control.ts). The
 *   API takes it as `Authorization: Bearer TOKEN`; a browser exchanges it once at /login for
 *   a session cookie, and each form it posts carries the session's CSRF token.
 * - the read token (`--read-token-file`): when given, every page, API and file route needs
 *   it (or the admin token), as a Bearer token or a session; without it reading is open.
 *   /healthz stays open (probes), /uploads has the worker token, /login and /logout are the
 *   way in.
 *
 * Sessions live in this process's memory: a restart logs everyone out, /logout ends one at
 * once, and each expires after SESSION_MS. The cookie is HttpOnly and SameSite=Strict (a
 * page of another site never sends it), and Secure when the request came over https: behind
 * a proxy that terminates TLS the server cannot know, so such a proxy should add Secure
 * (nginx: `proxy_cookie_flags lxcts_session secure`). Form posts are refused unless their
 * Origin (or Sec-Fetch-Site) is this server (hono/csrf) and their `csrf` field is the
 * session's token (compared in constant time).
 */
import { randomBytes } from 'node:crypto';

import { Hono } from 'hono';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { every } from 'hono/combine';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { html } from 'hono/html';

import { page } from './pages';
import { bearerOf, tokenEquals } from './worker-token';

export const SESSION_COOKIE = 'lxcts_session';
/** How long a session lasts after logging in. */
export const SESSION_MS = 12 * 60 * 60_000;
/** The most sessions kept: logging in beyond it ends the oldest. */
const MAX_SESSIONS = 10_000;
/** A form's body: a token and a CSRF token fit easily. */
export const MAX_FORM_BYTES = 8 * 1024;

export type Role = 'admin' | 'read';

interface Session {
  role: Role;
  csrf: string;
  expires: number;
}

export interface AccessOptions {
  adminToken?: string;
  readToken?: string;
}

const newSecret = () => randomBytes(32).toString('base64url');

export class Access {
  readonly #sessions = new Map<string, Session>();

  constructor(
    private readonly tokens: AccessOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether re-run and cancel exist at all (an admin token was given). */
  get controls(): boolean {
    return this.tokens.adminToken !== undefined;
  }

  /** Whether reading needs a token. */
  get readRestricted(): boolean {
    return this.tokens.readToken !== undefined;
  }

  /** Which role a token grants, or null. Both tokens are always compared: the time says nothing. */
  roleOfToken(given: string): Role | null {
    const { adminToken, readToken } = this.tokens;
    const admin = adminToken !== undefined && tokenEquals(given, adminToken);
    const read = readToken !== undefined && tokenEquals(given, readToken);
    return admin ? 'admin' : read ? 'read' : null;
  }

  /** The role of the request's Bearer token, or null (none, or a wrong one). */
  roleOfBearer(c: Context): Role | null {
    const given = bearerOf(c.req.header('Authorization'));
    return given === '' ? null : this.roleOfToken(given);
  }

  /** The request's session, if its cookie names a live one. */
  sessionOf(c: Context): Session | undefined {
    const id = getCookie(c, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session && session.expires <= this.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** May this request read (pages, API, files)? */
  mayRead(c: Context): boolean {
    return !this.readRestricted || this.roleOfBearer(c) !== null || this.sessionOf(c) !== undefined;
  }

  /** Starts a session for `role` and sets its cookie. */
  logIn(c: Context, role: Role): void {
    const now = this.now();
    for (const [id, s] of this.#sessions) if (s.expires <= now) this.#sessions.delete(id);
    // Map order is creation order: the oldest go first.
    for (const id of this.#sessions.keys()) {
      if (this.#sessions.size < MAX_SESSIONS) break;
      this.#sessions.delete(id);
    }
    const id = newSecret();
    this.#sessions.set(id, { role, csrf: newSecret(), expires: now + SESSION_MS });
    setCookie(c, SESSION_COOKIE, id, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
      path: '/',
      maxAge: SESSION_MS / 1000,
    });
  }

  logOut(c: Context): void {
    const id = getCookie(c, SESSION_COOKIE);
    if (id !== undefined) this.#sessions.delete(id);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
  }

  /** Whether a posted form's `csrf` field is its session's token. */
  csrfMatches(session: Session, given: unknown): boolean {
    return tokenEquals(typeof given === 'string' ? given : '', session.csrf);
  }
}

/**
 * The form routes' guards: the body's size, then hono/csrf (Origin or Sec-Fetch-Site must
 * be this server for a form post).
 */
export const formGuard: MiddlewareHandler = every(bodyLimit({ maxSize: MAX_FORM_BYTES, onError: (c) => c.text('form too large\n', 413) }), csrf());

/** Where to go after logging in: a path of this server only (`/x`, never `//host` or `/\host`). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]{0,2047}$/.test(next) ? next : '/';
}

function loginPage(next: string, problem?: string) {
  return page(
    'Log in',
    html`<h1>Log in</h1>
      ${problem ? html`<p class="s-failure">${problem}</p>` : ''}
      <form method="post" action="/login">
        <input type="hidden" name="next" value="${next}" />
        <label>Token <input type="password" name="token" autocomplete="current-password" required /></label>
        <button>Log in</button>
      </form>
      <p>The admin token (<code>ci server --admin-token-file</code>) allows re-run and cancel; the read token only reading.</p>`,
  );
}

/** /login and /logout; and, first of all routes, the read gate when reading needs a token. */
export function accessApp(access: Access): Hono {
  const app = new Hono();

  app.use('*', async (c, next) => {
    const open = ['/login', '/logout', '/healthz'].includes(c.req.path) || c.req.path === '/uploads' || c.req.path.startsWith('/uploads/');
    if (open || access.mayRead(c)) return next();
    // A person in a browser is sent to the form; a program is told what to send.
    if (c.req.method === 'GET' && (c.req.header('Accept') ?? '').includes('text/html')) {
      return c.redirect(`/login?next=${encodeURIComponent(safeNext(c.req.path))}`, 303);
    }
    c.header('WWW-Authenticate', 'Bearer realm="lxcts"');
    return c.json({ error: 'this server needs a token to read: Authorization: Bearer TOKEN (its read or admin token), or log in at /login' }, 401);
  });

  app.get('/login', (c) => {
    if (!access.controls && !access.readRestricted)
      return c.html(
        page(
          'Log in',
          html`<h1>Nothing to log in to</h1>
            <p>This server has no tokens: reading is open, re-run and cancel are off.</p>`,
        ),
        404,
      );
    return c.html(loginPage(safeNext(c.req.query('next'))));
  });

  app.post('/login', formGuard, async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const role = access.roleOfToken(typeof form.token === 'string' ? form.token : '');
    if (role === null) return c.html(loginPage(next, 'Wrong token.'), 401);
    access.logIn(c, role);
    return c.redirect(next, 303);
  });

  app.post('/logout', formGuard, async (c) => {
    const session = access.sessionOf(c);
    const form = await c.req.parseBody();
    // Logging someone out is a change too: only their own page may do it.
    if (session && !access.csrfMatches(session, form.csrf)) return c.text('bad or missing CSRF token\n', 403);
    access.logOut(c);
    return c.redirect('/', 303);
  });

  return app;
}

/** The session's CSRF token when it is an admin's, for the forms of a page. */
export function adminCsrf(access: Access, c: Context): string | undefined {
  const session = access.sessionOf(c);
  return session?.role === 'admin' ? session.csrf : undefined;
}

export type { Session };
