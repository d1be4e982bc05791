/**
 * A directory listing as a small HTML page. Every name in it came from a build (file
 * names) or a push (branch names): each is HTML-escaped where shown and
 * percent-encoded where linked, so a name can neither inject markup nor a link elsewhere.
 */
import type { FileHandle } from 'node:fs/promises';
import * as fsp from 'node:fs/promises';

import { decodePointerName } from '../ci/pointer-name';
import { PULL_DIRECTORY } from '../ci/pull-request';

/** Entries shown at most: a listing is a page, not an export. */
export const MAX_LISTED = 10_000;

export interface ListedEntry {
  /** The name in URLs and on the page (a branch pointer's branch name). */
  name: string;
  directory: boolean;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The entries of the opened directory `dir`, without the publisher's own ('.' names).
 * `branches`: the names are branch pointers (percent-encoded on disk) or commit ids.
 */
export async function listEntries(dir: FileHandle, branches: boolean): Promise<{ entries: ListedEntry[]; truncated: boolean }> {
  const entries: ListedEntry[] = [];
  let truncated = false;
  for await (const entry of await fsp.opendir(`/proc/self/fd/${dir.fd}`)) {
    // Pull requests' builds (pull/, a name no branch pointer has) are not a branch: their URLs are -/pull/<N>/ (files.ts).
    if (entry.name.startsWith('.') || (branches && entry.name === PULL_DIRECTORY)) continue;
    if (entries.length >= MAX_LISTED) {
      truncated = true;
      break;
    }
    let name = entry.name;
    if (branches) {
      try {
        name = decodePointerName(entry.name);
      } catch {
        // A commit id, kept as it is.
      }
    }
    // The publisher's links (pointers, commits) all lead to directories.
    entries.push({ name, directory: entry.isDirectory() || entry.isSymbolicLink() });
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, truncated };
}

export function renderListing(title: string, entries: ListedEntry[], truncated: boolean, atTop: boolean): string {
  const rows = entries.map(({ name, directory }) => {
    const href = encodeURIComponent(name) + (directory ? '/' : '');
    return `<li><a href="${escapeHtml(href)}">${escapeHtml(name)}${directory ? '/' : ''}</a></li>`;
  });
  if (!atTop) rows.unshift('<li><a href="../">../</a></li>');
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title></head>`,
    `<body><h1>${escapeHtml(title)}</h1><ul>`,
    ...rows,
    '</ul>',
    truncated ? `<p>Only the first ${MAX_LISTED} entries are shown.</p>` : '',
    '</body></html>',
    '',
  ].join('\n');
}
