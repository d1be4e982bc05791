/**
 * A status badge (`/badge/<owner>/<repo>/<branch>.svg`): the outcome of the newest commit
 * built on a branch, over all its jobs, as a small SVG in the usual two-part shape.
 */
import type { ServerStatus } from '../ci/build-status';
import { escapeHtml } from './listing';

export type BadgeState = 'passing' | 'failing' | 'running' | 'cancelled' | 'unknown';

const COLORS: Record<BadgeState, string> = {
  passing: '#2a2',
  failing: '#c33',
  running: '#d90',
  cancelled: '#888',
  unknown: '#888',
};

/** One commit's jobs as one word: any failure fails it, anything unfinished keeps it running. */
export function badgeState(statuses: readonly ServerStatus[]): BadgeState {
  if (statuses.length === 0) return 'unknown';
  if (statuses.some((s) => s === 'failure' || s === 'error')) return 'failing';
  if (statuses.some((s) => s === 'queued' || s === 'running' || s === 'waiting')) return 'running';
  if (statuses.every((s) => s === 'cancelled')) return 'cancelled';
  return 'passing';
}

/** Width of `text` in Verdana 11px, near enough: 7 px a character and some room. */
const widthOf = (text: string) => 10 + 7 * [...text].length;

export function renderBadge(label: string, state: BadgeState): string {
  const left = widthOf(label);
  const right = widthOf(state);
  const total = left + right;
  const text = (x: number, value: string) =>
    `<text x="${x}" y="15" fill="#010101" fill-opacity=".3">${escapeHtml(value)}</text><text x="${x}" y="14">${escapeHtml(value)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="20" role="img" aria-label="${escapeHtml(`${label}: ${state}`)}">`,
    `<title>${escapeHtml(`${label}: ${state}`)}</title>`,
    `<rect width="${left}" height="20" fill="#555"/>`,
    `<rect x="${left}" width="${right}" height="20" fill="${COLORS[state]}"/>`,
    '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">',
    text(left / 2, label),
    text(left + right / 2, state),
    '</g></svg>',
    '',
  ].join('');
}
