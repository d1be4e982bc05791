/**
 * Serving what the CI published, at stable URLs:
 *   /binaries/<owner>/<repo>/<branch|sha>/...   the artifacts, SHA256SUMS, commit, version
 *   /docs/<owner>/<repo>/<branch>/...           the branch's docs site
 *   /binaries/<owner>/<repo>/-/pull/<N>/<sha>/...   a pull request's build (pull-request.ts):
 *   /docs/<owner>/<repo>/-/pull/<N>/<sha>/...       its artifacts and its docs site
 * A branch name never starts with `-` (names.ts), so `-` can never be a branch's URL, and a
 * pull request's files never show at one: on disk they are `<repo>/pull/<N>/`, where no
 * branch pointer can be (pointer-name.ts encodes a branch named `pull`).
 * A branch is named as pushed, percent-encoded once in the URL (`feature%2Fx` for
 * `feature/x`); on disk its pointer is encodePointerName's name. Directories are listed
 * (docs serve their index.html); files get a content type from their extension, an ETag,
 * single byte ranges and HEAD.
 *
 * Nothing outside the two roots is ever served: request-path.ts refuses `..`, encoded
 * separators, NUL and the like before any file is touched, and safe-open.ts opens the path
 * component by component without the kernel following a link, serving the bytes from the
 * descriptor it opened. Build output is a stranger's: every response forbids sniffing and
 * runs any HTML in a sandbox without the server's origin, so a docs page cannot act as
 * the dashboard's user.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

import { Hono } from 'hono';
import { getMimeType } from 'hono/utils/mime';

import { encodePointerName } from '../ci/pointer-name';
import { PULL_DIRECTORY, PULL_NUMBER, pullDirectory, pullNumberOfRef } from '../ci/pull-request';
import { listEntries, renderListing } from './listing';
import { parseRequestPath, rawPathOf } from './request-path';
import { openInside, Opened } from './safe-open';

export interface FilesOptions {
  /** The data directory's binaries/ and docs/ (data-dir.ts). */
  binariesRoot: string;
  docsRoot: string;
}

const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** The ref is the third component: <owner>/<repo>/<ref>. */
const REF_AT = 2;

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  // An opaque origin: a build's HTML and scripts run, but not as the dashboard.
  'Content-Security-Policy': 'sandbox allow-scripts allow-forms allow-popups allow-downloads',
};

/** The URL of a published file or directory (a branch or a commit id as `ref`). */
export function publishedUrl(kind: 'binaries' | 'docs', repo: string, ref: string, file = ''): string {
  return `/${kind}/${repo.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(ref)}/${encodeTail(file)}`;
}

/** The URL segment (in place of a branch) below which a repository's pull requests are: `-/pull/<N>/`. */
export const PULL_SEGMENT = '-';

/** The URL of a pull request's published file or directory: its build of `commit`. */
export function pullUrl(kind: 'binaries' | 'docs', repo: string, pull: number, commit: string, file = ''): string {
  return `${publishedUrl(kind, repo, PULL_SEGMENT)}${pullDirectory(pull).join('/')}/${encodeURIComponent(commit)}/${encodeTail(file)}`;
}

/** What the helpers below need of a build (server-store.ts's ServerBuild). */
type PublishedBuild = { repo: string; commit: string; ref: string | null; branch: string | null; published: { docs: string | null } | null };

/** A build's binaries directory, as components below the binaries root: a pull request's build (its ref names it) is under it. */
export function binariesDirOf(build: PublishedBuild): string[] {
  const pull = pullNumberOfRef(build.ref);
  return [...build.repo.split('/'), ...(pull === null ? [] : pullDirectory(pull)), build.commit];
}

/** The URL of one of a build's binaries (or of its directory). */
export function artifactUrl(build: PublishedBuild, file = ''): string {
  const pull = pullNumberOfRef(build.ref);
  return pull === null ? publishedUrl('binaries', build.repo, build.commit, file) : pullUrl('binaries', build.repo, pull, build.commit, file);
}

/** The URL of a build's docs site: its branch's, or its pull request's; null when it published none. */
export function docsUrl(build: PublishedBuild): string | null {
  if (!build.published?.docs) return null;
  const pull = pullNumberOfRef(build.ref);
  if (pull !== null) return pullUrl('docs', build.repo, pull, build.commit);
  return build.branch ? publishedUrl('docs', build.repo, build.branch) : null;
}

function encodeTail(file: string): string {
  return file
    .split('/')
    .filter((part) => part !== '')
    .map(encodeURIComponent)
    .join('/');
}

export function contentTypeOf(name: string): string {
  const type = getMimeType(name) ?? (name === 'SHA256SUMS' || name === 'commit' || name === 'version' ? 'text/plain' : 'application/octet-stream');
  return /^text\/|\+xml$|^application\/(json|javascript|xml)/.test(type) && !type.includes('charset') ? `${type}; charset=utf-8` : type;
}

/**
 * The on-disk components for a request's: the ref becomes its pointer name; `-/pull/<N>/`
 * becomes `pull/<N>/`, below which only commits' builds are (no pointer).
 */
function diskComponents(components: string[]): string[] | null {
  const ref = components[REF_AT];
  if (ref === PULL_SEGMENT) {
    const [, , , pull, number, commit] = components;
    // `-/pull/` lists the pull requests; below each, only commits' builds.
    if (pull !== PULL_DIRECTORY || (number !== undefined && !PULL_NUMBER.test(number))) return null;
    if (commit !== undefined && !COMMIT_ID.test(commit)) return null;
    return [...components.slice(0, REF_AT), ...components.slice(REF_AT + 1)];
  }
  if (ref === undefined || COMMIT_ID.test(ref)) return components;
  try {
    return components.map((part, i) => (i === REF_AT ? encodePointerName(part) : part));
  } catch {
    return null;
  }
}

type Range = { start: number; end: number } | 'unsatisfiable' | null;

/** One `bytes=` range of a file of `size` bytes; null (the whole file) for anything else. */
export function parseRange(header: string | undefined, size: number): Range {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match) return null;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return null;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== '' && Number(last) < start)) return 'unsatisfiable';
  return { start, end };
}

function etagOf(stat: { dev: number; ino: number; size: number; mtimeMs: number }): string {
  return `"${stat.dev.toString(36)}-${stat.ino.toString(36)}-${stat.size.toString(36)}-${Math.floor(stat.mtimeMs * 1000).toString(36)}"`;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

export function filesApp(options: FilesOptions): Hono {
  const app = new Hono();
  for (const [kind, root] of [
    ['binaries', options.binariesRoot],
    ['docs', options.docsRoot],
  ] as const) {
    const prefix = `/${kind}`;
    app.on(['GET', 'HEAD'], [prefix, `${prefix}/*`], async (c) => {
      const head = c.req.method === 'HEAD';
      const raw = rawPathOf(c.req.url);
      const asked = parseRequestPath(raw, prefix, REF_AT);
      if (!asked) return c.text('Bad path\n', 400, SECURITY_HEADERS);
      const components = diskComponents(asked.components);
      const opened = components && (await openAgain(root, components));
      if (!opened) return c.text('Not found\n', 404, SECURITY_HEADERS);
      let { handle, stat } = opened;
      /** Closed when the response is made, unless a stream took it. */
      let owned: FileHandle | null = handle;
      let name = components[components.length - 1] ?? '';
      try {
        if (stat.isDirectory()) {
          // Relative links (a listing's, a site's) need the trailing slash.
          if (!asked.directory) return c.redirect(`${raw}/`, 301);
          const index = kind === 'docs' ? await openInside(root, [...components, 'index.html']) : null;
          if (!index || !index.stat.isFile()) {
            if (index) await index.handle.close();
            const { entries, truncated } = await listEntries(handle, asked.components.length === REF_AT);
            const html = renderListing(decodeURIComponent(raw), entries, truncated, asked.components.length === 0);
            return new Response(head ? null : html, {
              headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' },
            });
          }
          await handle.close();
          ({ handle, stat } = index);
          owned = handle;
          name = 'index.html';
        } else if (asked.directory) {
          return c.text('Not found\n', 404, SECURITY_HEADERS);
        }
        const etag = etagOf(stat);
        const headers: Record<string, string> = {
          ...SECURITY_HEADERS,
          ETag: etag,
          'Accept-Ranges': 'bytes',
          'Last-Modified': stat.mtime.toUTCString(),
          // Branch URLs move to newer builds: look again, cheaply (304), each time.
          'Cache-Control': 'no-cache',
        };
        if (matchesEtag(c.req.header('If-None-Match'), etag)) return c.body(null, 304, headers);
        headers['Content-Type'] = contentTypeOf(name);
        const ifRange = c.req.header('If-Range');
        const range = ifRange && ifRange !== etag ? null : parseRange(c.req.header('Range'), stat.size);
        if (range === 'unsatisfiable') return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${stat.size}` });
        const { start, end } = range ?? { start: 0, end: stat.size - 1 };
        headers['Content-Length'] = String(Math.max(0, end - start + 1));
        if (range) headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
        const status = range ? 206 : 200;
        if (head || end < start) return new Response(null, { status, headers });
        owned = null;
        return new Response(streamOf(handle, start, end), { status, headers });
      } finally {
        if (owned) await owned.close();
      }
    });
  }
  return app;
}

/**
 * openInside, tried again when refused: a publisher swaps a pointer, then removes the site
 * it named, so a walk that took the old pointer may find the old site gone; the next walk
 * takes the new pointer.
 */
async function openAgain(root: string, components: string[]): Promise<Opened | null> {
  for (let tries = 1; ; tries++) {
    const opened = await openInside(root, components);
    if (opened || tries === 3) return opened;
  }
}

/** The bytes start..end (inclusive) of the opened file; closing the stream closes the file. */
function streamOf(handle: FileHandle, start: number, end: number): ReadableStream<Uint8Array> {
  const stream = handle.createReadStream({ start, end, autoClose: true });
  return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
}
