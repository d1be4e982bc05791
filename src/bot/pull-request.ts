/**
 * The patch parser's reads and writes on GitHub's REST API, through anything with Octokit's
 * `request(route, params)` (src/github/client.ts gives one per repository, with retries
 * and rate limits handled). Only documented endpoints:
 * https://docs.github.com/en/rest/pulls/pulls, issues/labels, issues/comments,
 * commits/statuses, repos/contents, git/trees.
 */
import { z } from 'zod';

import { BUILD_FILE, parseBuildFile } from '../ci/build-file';
import { isBotComment, type Action, type PatchParserConfig, type PullRequestState, DCO_CONTEXT } from './plan';

/** The part of Octokit the bot uses. */
export interface Requester {
  request(route: string, params?: Record<string, unknown>): Promise<{ status: number; data: unknown }>;
}

export interface PullRequestRef {
  owner: string;
  repo: string;
  number: number;
  headSha: string;
  baseSha: string;
}

/** GitHub's page size limit; the pull request lists stop at 250 commits and 3000 files anyway. */
const PER_PAGE = 100;
/** GitHub's limit on a pull request's commit list (docs: "List commits on a pull request"). */
const MAX_LISTED_COMMITS = 250;
/** Beyond this many pages something is wrong (GitHub caps the lists above at 30 pages). */
const MAX_PAGES = 30;

const commitSchema = z.object({
  sha: z.string(),
  commit: z.object({ message: z.string(), author: z.object({ name: z.string(), email: z.string() }).nullable() }),
  parents: z.array(z.unknown()),
});
const fileSchema = z.object({
  filename: z.string(),
  status: z.string(),
  additions: z.number(),
  deletions: z.number(),
  previous_filename: z.string().optional(),
});
const labelSchema = z.object({ name: z.string() });
const commentSchema = z.object({ id: z.number(), body: z.string().optional(), user: z.object({ login: z.string() }).nullable() });
const statusSchema = z.object({ context: z.string(), state: z.string(), description: z.string().nullable() });
const contentSchema = z.object({ content: z.string(), encoding: z.string() });
const treeSchema = z.object({ tree: z.array(z.object({ path: z.string(), type: z.string(), size: z.number().optional() })) });

function failureStatus(err: unknown): number | null {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : null;
}

async function allPages<T>(api: Requester, route: string, params: Record<string, unknown>, item: z.ZodType<T>): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const { data } = await api.request(route, { ...params, per_page: PER_PAGE, page });
    const list = z.array(item).parse(data);
    items.push(...list);
    if (list.length < PER_PAGE) break;
  }
  return items;
}

/**
 * The patch parser's settings from the base commit's build file: never the pull request's
 * own (its author would choose the rules it is checked by). No file: the defaults.
 */
export async function readConfig(api: Requester, pr: PullRequestRef): Promise<{ config: PatchParserConfig; problem: string | null }> {
  const defaults = parseBuildFile('patch_parser: {}\n');
  const fallback = { ...defaults.patch_parser, labels: [] };
  let text: string;
  try {
    const { data } = await api.request('GET /repos/{owner}/{repo}/contents/{path}', { owner: pr.owner, repo: pr.repo, path: BUILD_FILE, ref: pr.baseSha });
    const content = contentSchema.parse(data);
    if (content.encoding !== 'base64') return { config: fallback, problem: `${BUILD_FILE} came as ${content.encoding}, not base64` };
    text = Buffer.from(content.content, 'base64').toString('utf8');
  } catch (err) {
    if (failureStatus(err) === 404) return { config: fallback, problem: null };
    throw err;
  }
  try {
    const file = parseBuildFile(text);
    return { config: { ...file.patch_parser, labels: file.labels ?? [] }, problem: null };
  } catch (err) {
    return { config: fallback, problem: (err as Error).message };
  }
}

/** Sizes of the files at a commit, from its recursive tree (a truncated tree gives what it has). */
async function blobSizes(api: Requester, pr: PullRequestRef, wanted: Set<string>): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  if (wanted.size === 0) return sizes;
  const { data } = await api.request('GET /repos/{owner}/{repo}/git/trees/{tree_sha}', {
    owner: pr.owner,
    repo: pr.repo,
    tree_sha: pr.headSha,
    recursive: '1',
  });
  for (const entry of treeSchema.parse(data).tree) {
    if (entry.type === 'blob' && entry.size !== undefined && wanted.has(entry.path)) sizes.set(entry.path, entry.size);
  }
  return sizes;
}

/**
 * What the pull request looks like now, or null when its head moved past `headSha` (a newer
 * event is on its way and will do the work for the newer head).
 * `botLogin`: only comments by this account count as the bot's (else any comment opening
 * with the marker).
 */
export async function readState(api: Requester, pr: PullRequestRef, botLogin?: string): Promise<PullRequestState | null> {
  const o = { owner: pr.owner, repo: pr.repo };
  const commits = await allPages(api, 'GET /repos/{owner}/{repo}/pulls/{pull_number}/commits', { ...o, pull_number: pr.number }, commitSchema);
  // GitHub lists at most the first 250 commits: past that the head cannot be seen there.
  if (commits.length < MAX_LISTED_COMMITS && commits.at(-1)?.sha !== pr.headSha) return null;
  const files = await allPages(api, 'GET /repos/{owner}/{repo}/pulls/{pull_number}/files', { ...o, pull_number: pr.number }, fileSchema);
  const labels = await allPages(api, 'GET /repos/{owner}/{repo}/issues/{issue_number}/labels', { ...o, issue_number: pr.number }, labelSchema);
  const comments = await allPages(api, 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...o, issue_number: pr.number }, commentSchema);
  // Newest first: the first with our context is the one GitHub shows.
  const { data: statuses } = await api.request('GET /repos/{owner}/{repo}/commits/{ref}/statuses', { ...o, ref: pr.headSha, per_page: PER_PAGE });
  const dco = z
    .array(statusSchema)
    .parse(statuses)
    .find((s) => s.context === DCO_CONTEXT);
  const present = new Set(files.filter((f) => f.status !== 'removed').map((f) => f.filename));
  return {
    headSha: pr.headSha,
    commits: commits.map((c) => ({
      sha: c.sha,
      message: c.commit.message,
      author: c.commit.author ?? { name: '', email: '' },
      parents: c.parents.length,
    })),
    files,
    sizes: await blobSizes(api, pr, present),
    labels: labels.map((l) => l.name),
    botComments: comments
      .filter((c) => c.body !== undefined && isBotComment(c.body) && (botLogin === undefined || c.user?.login === botLogin))
      .map((c) => ({ id: c.id, body: c.body! })),
    dcoStatus: dco ? { state: dco.state, description: dco.description ?? '' } : null,
  };
}

/** Does what the plan says, in order. Deleting what is already gone is not an error. */
export async function apply(api: Requester, pr: PullRequestRef, actions: Action[]): Promise<void> {
  const o = { owner: pr.owner, repo: pr.repo };
  for (const action of actions) {
    switch (action.kind) {
      case 'status':
        await api.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
          ...o,
          sha: action.sha,
          state: action.state,
          context: DCO_CONTEXT,
          description: action.description,
        });
        break;
      case 'add-labels':
        await api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { ...o, issue_number: pr.number, labels: action.labels });
        break;
      case 'remove-label':
        await goneIsFine(
          api.request('DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}', { ...o, issue_number: pr.number, name: action.label }),
        );
        break;
      case 'create-comment':
        await api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { ...o, issue_number: pr.number, body: action.body });
        break;
      case 'update-comment':
        await api.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...o, comment_id: action.id, body: action.body });
        break;
      case 'delete-comment':
        await goneIsFine(api.request('DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}', { ...o, comment_id: action.id }));
        break;
    }
  }
}

async function goneIsFine(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (err) {
    if (failureStatus(err) !== 404) throw err;
  }
}
