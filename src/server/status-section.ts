/** The build page's "GitHub status" line: what became of the build's commit status. */
import { html } from 'hono/html';

import type { StatusOutbox } from './status-outbox';

export function statusSection(outbox: StatusOutbox, buildKey: string) {
  const row = outbox.get(buildKey);
  if (!row) return '';
  const what = html`<code>${row.context}</code> ${row.state}`;
  const where = (() => {
    switch (row.outcome) {
      case 'waiting':
        return html`waiting to be posted`;
      case 'posted':
        return html`posted`;
      case 'retrying':
        return html`retrying (${row.attempts} failed, next at ${new Date(row.nextAt).toISOString()}): ${row.error ?? ''}`;
      case 'failed':
        return html`failed: ${row.error ?? ''}`;
    }
  })();
  return html`<p class="github-status" data-outcome="${row.outcome}">GitHub status ${what}: ${where}</p>`;
}
