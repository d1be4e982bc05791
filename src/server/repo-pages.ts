/**
 * A repository's page: what a person comes for, as Docker's "master binaries" and "master
 * docs" were: for each branch, the newest successful build of each job, the binaries its
 * branch pointer serves (download links with their SHA-256) and its docs site.
 *
 *   GET /repos/<owner>/<repo>        the page
 *   GET /api/repos/<owner>/<repo>    the same as JSON
 *
 * The builds come from the server's store; the files and sums from what /binaries and /docs
 * serve for the branch (its pointer, opened with openInside like every file the server
 * reads), so a link on the page is always the file whose sum it shows. The owner and name
 * are checked (names.ts) before anything is looked up, and everything shown is escaped.
 */
import { Hono } from 'hono';
import type { Context } from 'hono';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

import { fullNameProblem, isCommitId } from '../ci/names';
import { encodePointerName } from '../ci/pointer-name';
import { publishedUrl } from './files';
import { page, readChecksums } from './pages';
import { openInside } from './safe-open';
import type { ServerBuild, ServerStore } from './server-store';

/** Most (branch, job) rows on one page: a repository with thousands of branches shows the first. */
export const MAX_REPO_ROWS = 300;

export interface RepoPagesOptions {
  store: ServerStore;
  /** The data directory's binaries/ and docs/. */
  binariesRoot: string;
  docsRoot: string;
}

export interface BranchBinaries {
  branch: string;
  /** The newest successful build of each job of the branch. */
  builds: Array<Pick<ServerBuild, 'id' | 'job' | 'commit' | 'subject' | 'author' | 'finishedAt'>>;
  /** What /binaries/<owner>/<repo>/<branch>/ serves: its commit and files with their SHA-256; null when this server has none. */
  binaries: { url: string; commit: string | null; files: Array<{ name: string; sha256: string; url: string }> } | null;
  /** The branch's docs site on this server, or null. */
  docs: string | null;
}

export interface RepoSummary {
  repo: string;
  branches: BranchBinaries[];
  /** More rows than MAX_REPO_ROWS: not every branch is listed. */
  truncated: boolean;
}

/** The first line of a small published file (the pointer's `commit`), or null. */
async function readSmallFile(root: string, components: string[]): Promise<string | null> {
  const opened = await openInside(root, components);
  if (!opened) return null;
  try {
    if (!opened.stat.isFile()) return null;
    const buffer = Buffer.alloc(Math.min(opened.stat.size, 256));
    const { bytesRead } = await opened.handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? null;
  } finally {
    await opened.handle.close();
  }
}

async function isDirectory(root: string, components: string[]): Promise<boolean> {
  const opened = await openInside(root, components);
  if (!opened) return false;
  await opened.handle.close();
  return opened.stat.isDirectory();
}

/** main and master first (the branches people look for), then by name. */
function branchOrder(a: string, b: string): number {
  const rank = (name: string) => (name === 'main' || name === 'master' ? 0 : 1);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Each branch's newest successful builds, binaries and docs; null when the server knows no build of `repo`. */
export async function repoSummary(o: RepoPagesOptions, repo: string): Promise<RepoSummary | null> {
  const rows = o.store.newestSuccessful(repo, MAX_REPO_ROWS + 1);
  if (rows.length === 0 && o.store.list({ repo, limit: 1 }).length === 0) return null;
  const byBranch = new Map<string, ServerBuild[]>();
  for (const build of rows.slice(0, MAX_REPO_ROWS)) {
    if (build.branch === null) continue;
    byBranch.set(build.branch, [...(byBranch.get(build.branch) ?? []), build]);
  }
  const [owner, name] = repo.split('/') as [string, string];
  const branches: BranchBinaries[] = [];
  for (const branch of [...byBranch.keys()].sort(branchOrder)) {
    let pointer: string;
    try {
      pointer = encodePointerName(branch);
    } catch {
      continue; // a branch no pointer can name was never published
    }
    const dir = [owner, name, pointer];
    const sums = await readChecksums(o.binariesRoot, dir);
    const commit = await readSmallFile(o.binariesRoot, [...dir, 'commit']);
    const binaries =
      sums.size > 0 || commit !== null
        ? {
            url: publishedUrl('binaries', repo, branch),
            commit: commit !== null && isCommitId(commit) ? commit : null,
            files: [...sums].map(([file, sha256]) => ({ name: file, sha256, url: publishedUrl('binaries', repo, branch, file) })),
          }
        : null;
    const docs = (await isDirectory(o.docsRoot, dir)) ? publishedUrl('docs', repo, branch) : null;
    const builds = (byBranch.get(branch) ?? []).map((b) => ({
      id: b.id,
      job: b.job,
      commit: b.commit,
      subject: b.subject,
      author: b.author,
      finishedAt: b.finishedAt,
    }));
    branches.push({ branch, builds, binaries, docs });
  }
  return { repo, branches, truncated: rows.length > MAX_REPO_ROWS };
}

type Html = HtmlEscapedString;

function branchSection(repo: string, b: BranchBinaries): Html {
  const builds = b.builds.map(
    (build) =>
      html`<tr>
        <td>${build.job}</td>
        <td><a href="/builds/${build.id}">#${build.id}</a></td>
        <td>
          <code title="${build.commit}">${build.commit.slice(0, 12)}</code>${build.subject ? html` ${build.subject}` : ''}${
            build.author ? html` <span class="who">${build.author}</span>` : ''
          }
        </td>
        <td>${build.finishedAt ? build.finishedAt.replace('T', ' ').slice(0, 19) : ''}</td>
      </tr>`,
  );
  const files = b.binaries?.files.map(
    (f) =>
      html`<tr>
        <td><a href="${f.url}" download>${f.name}</a></td>
        <td><code>${f.sha256}</code></td>
      </tr>`,
  );
  return html`<h2 id="branch-${encodeURIComponent(b.branch)}">branch ${b.branch}</h2>
    <p>
      <a href="/?${new URLSearchParams({ repo, branch: b.branch }).toString()}">builds</a>
      ${b.binaries ? html` · <a href="${b.binaries.url}">binaries</a>` : ''} ${b.docs ? html` · <a href="${b.docs}">docs</a>` : ''}
    </p>
    <table>
      <tr>
        <th>job</th>
        <th>newest success</th>
        <th>commit</th>
        <th>finished (UTC)</th>
      </tr>
      ${builds}
    </table>
    ${
      b.binaries
        ? html`<h3>Binaries${b.binaries.commit ? html` of <code>${b.binaries.commit.slice(0, 12)}</code>` : ''}</h3>
            ${
              files && files.length > 0
                ? html`<table>
                      <tr>
                        <th>file</th>
                        <th>SHA-256</th>
                      </tr>
                      ${files}
                    </table>
                    <p><a href="${publishedUrl('binaries', repo, b.branch, 'SHA256SUMS')}">SHA256SUMS</a></p>`
                : html`<p>No files.</p>`
            }`
        : html`<p>No binaries of this branch on this server.</p>`
    }` as Html;
}

/** The request's `owner/repo` (decoded once by the router), and why it is no repository name, if it is not. */
function repoOf(c: Context): { repo: string; problem: string | null } {
  const repo = `${c.req.param('owner') ?? ''}/${c.req.param('repo') ?? ''}`;
  return { repo, problem: fullNameProblem(repo) };
}

export function repoPagesApp(o: RepoPagesOptions): Hono {
  const app = new Hono();

  app.get('/api/repos/:owner/:repo', async (c) => {
    const { repo, problem } = repoOf(c);
    if (problem !== null) return c.json({ error: problem }, 400);
    const summary = await repoSummary(o, repo);
    return summary ? c.json(summary) : c.json({ error: `no builds of ${repo}` }, 404);
  });

  app.get('/repos/:owner/:repo', async (c) => {
    const { repo, problem } = repoOf(c);
    if (problem !== null)
      return c.html(
        page(
          'Bad request',
          html`<h1>Bad request</h1>
            <p>${problem}</p>`,
        ),
        400,
      );
    const summary = await repoSummary(o, repo);
    if (!summary) return c.html(page('Not found', html`<h1>No builds of ${repo}</h1>`), 404);
    const body = html`<h1>${repo}</h1>
      <p><a href="/?${new URLSearchParams({ repo }).toString()}">all builds</a> · <a href="/api/repos/${repo}">JSON</a></p>
      ${summary.branches.length === 0 ? html`<p>No successful build of a branch yet.</p>` : summary.branches.map((b) => branchSection(repo, b))}
      ${summary.truncated ? html`<p>Only the first ${MAX_REPO_ROWS} branches and jobs are shown.</p>` : ''}`;
    return c.html(page(repo, body as Html));
  });

  return app;
}
