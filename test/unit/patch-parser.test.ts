/**
 * @tier unit
 * The patch parser's pure parts: trailers as git reads them, sign-offs, label rules, the
 * size label, the comment, and the plan of writes (nothing written when nothing changed).
 */
import { execFileSync } from 'node:child_process';

import { parseBuildFile } from '../../src/ci/build-file';
import { inlineCode, renderComment, COMMENT_MARKER } from '../../src/bot/comment';
import { commitsWithoutSignOff, parseTrailers, signedOffByAuthor, type CommitForDco } from '../../src/bot/dco';
import { sizeLabel, wantedLabels, type ChangedFile } from '../../src/bot/labels';
import { plan, type PatchParserConfig, type PullRequestState } from '../../src/bot/plan';
import { pullRequestOf } from '../../src/bot/patch-parser';

const ada = { name: 'Ada Lovelace', email: 'ada@example.org' };
const commit = (sha: string, message: string, author = ada, parents = 1): CommitForDco => ({ sha: sha.padEnd(40, '0'), message, author, parents });
const signed = (sha: string) => commit(sha, `Fix it\n\nBody.\n\nSigned-off-by: ${ada.name} <${ada.email}>\n`);

describe('trailers, as git interpret-trailers finds them', () => {
  it('reads the last paragraph when every line is a trailer', () => {
    expect(parseTrailers('Subject\n\nBody text.\n\nSigned-off-by: A <a@x>\nReviewed-by: B <b@x>\n')).toEqual([
      { token: 'Signed-off-by', value: 'A <a@x>' },
      { token: 'Reviewed-by', value: 'B <b@x>' },
    ]);
  });
  it('never reads the title, nor a paragraph that is not the last', () => {
    expect(parseTrailers('Signed-off-by: A <a@x>')).toEqual([]);
    expect(parseTrailers('Subject\n\nSigned-off-by: A <a@x>\n\nA closing remark.\n')).toEqual([]);
  });
  it('accepts a mixed last paragraph only with a git-generated trailer and a quarter of trailer lines', () => {
    expect(parseTrailers('S\n\nnot one\nSigned-off-by: A <a@x>\n')).toHaveLength(1);
    expect(parseTrailers('S\n\nnot one\nnot two\nnot three\nnot four\nSigned-off-by: A <a@x>\n')).toEqual([]);
    expect(parseTrailers('S\n\nnot one\nAcked-by: A <a@x>\n')).toEqual([]);
  });
  it('joins continuation lines, skips comments, stops at a --- divider', () => {
    expect(parseTrailers('S\n\nSigned-off-by: A\n  <a@x>\n# comment\n')).toEqual([{ token: 'Signed-off-by', value: 'A <a@x>' }]);
    expect(parseTrailers('S\n\nSigned-off-by: A <a@x>\n---\n diff\n')).toHaveLength(1);
    expect(parseTrailers('S\n\n---\nSigned-off-by: A <a@x>\n')).toEqual([]);
  });
});

describe('trailers agree with git interpret-trailers --parse', () => {
  const messages = [
    'Subject\n\nBody.\n\nSigned-off-by: A <a@x>\n',
    'Subject\n\nSigned-off-by: A <a@x>\nCo-authored-by: B <b@x>',
    'Signed-off-by: A <a@x>\n',
    'Subject\n\nnot one\nSigned-off-by: A <a@x>\n',
    'Subject\n\nnot one\nnot two\nnot three\nnot four\nSigned-off-by: A <a@x>\n',
    'Subject\n\nnot one\nAcked-by: A <a@x>\n',
    'Subject\n\nSigned-off-by: A\n  <a@x>\n# a comment\n',
    'Subject\n\nKey : value\nSigned-off-by: A <a@x>\n',
    'Subject\n\nSigned-off-by: A <a@x>\n---\n diff --git a/x b/x\n',
    'Subject\n\nSigned-off-by: A <a@x>\n\nAfterthought.\n',
    'Subject\n\n Signed-off-by: A <a@x>\n',
    'Subject\n\nsigned-off-by:A <a@x>\n\n\n',
    'Subject\r\n\r\nSigned-off-by: A <a@x>\r\n',
    'Subject\n\nWith a URL: http://example.org\nSigned-off-by: A <a@x>\n',
  ];
  it.each(messages.map((m) => [JSON.stringify(m), m]))('%s', (_name, message) => {
    const git = execFileSync('git', ['interpret-trailers', '--parse'], { input: message, encoding: 'utf8' });
    const ours = parseTrailers(message)
      .map((t) => `${t.token}: ${t.value}\n`)
      .join('');
    expect(ours).toBe(git);
  });
});

describe('sign-offs (DCO)', () => {
  it("needs the author's own name and email (the email case-insensitively)", () => {
    expect(signedOffByAuthor(signed('a'))).toBe(true);
    expect(signedOffByAuthor(commit('a', 'S\n\nsigned-off-by: Ada Lovelace <ADA@example.org>'))).toBe(true);
    expect(signedOffByAuthor(commit('a', 'S\n\nSigned-off-by: Ada Lovelace <other@example.org>'))).toBe(false);
    expect(signedOffByAuthor(commit('a', 'S\n\nSigned-off-by: Ada <ada@example.org>'))).toBe(false);
    expect(signedOffByAuthor(commit('a', 'S\n\nSigned-off-by: Ada Lovelace'))).toBe(false);
    expect(signedOffByAuthor(commit('a', 'Subject only'))).toBe(false);
  });
  it('does not check merge commits', () => {
    expect(commitsWithoutSignOff([commit('m', 'Merge branch x', ada, 2), commit('b', 'S')]).map((c) => c.sha[0])).toEqual(['b']);
  });
});

describe('labels', () => {
  const file = (filename: string, lines = 1, extra: Partial<ChangedFile> = {}): ChangedFile => ({
    filename,
    status: 'modified',
    additions: lines,
    deletions: 0,
    ...extra,
  });
  it('gives the size label from the lines added and removed', () => {
    expect([0, 9, 10, 29, 30, 99, 100, 499, 500, 10_000].map(sizeLabel)).toEqual([
      'size/XS',
      'size/XS',
      'size/S',
      'size/S',
      'size/M',
      'size/M',
      'size/L',
      'size/L',
      'size/XL',
      'size/XL',
    ]);
  });
  it('applies each path rule a changed file (or its old name) matches, once', () => {
    const rules = parseBuildFile(
      'jobs: { b: { steps: [make] } }\nlabels:\n  "docs/**": area/docs\n  "src/**": [area/code, kind/code]\n  "**/*.md": area/docs\n',
    ).labels!;
    expect(wantedLabels([file('docs/.vale.ini'), file('README.md')], rules)).toEqual(['area/docs', 'size/XS']);
    expect(wantedLabels([file('lib/x.ts', 40, { status: 'renamed', previous_filename: 'src/x.ts' })], rules)).toEqual(['area/code', 'kind/code', 'size/M']);
  });
  it('rejects label rules GitHub could not take', () => {
    expect(() => parseBuildFile('jobs: { b: { steps: [make] } }\nlabels: { "docs/**": "a,b" }\n')).toThrow(/without commas/);
    expect(() => parseBuildFile(`jobs: { b: { steps: [make] } }\nlabels: { "docs/**": ${'x'.repeat(51)} }\n`)).toThrow(/1 to 50/);
    expect(() => parseBuildFile('jobs: { b: { steps: [make] } }\nlabels: { "/etc/**": x }\n')).toThrow(/labels\.\/etc\/\*\*: Invalid key/);
    expect(() => parseBuildFile('jobs: { b: { steps: [make] } }\npatch_parser: { max_file_size: 1X }\n')).toThrow(/size/);
  });
});

describe('the comment', () => {
  it('renders hostile file names as code, never as markup', () => {
    expect(inlineCode('a`b')).toBe('`` a`b ``');
    expect(inlineCode('x\n- [link](http://evil)')).toBe('`x - [link](http://evil)`');
    const body = renderComment({ unsigned: null, untestedSource: ['src/@admin <b>.ts'], testGlobs: ['test/**'], largeFiles: [], maxFileSize: 1 })!;
    expect(body.startsWith(COMMENT_MARKER)).toBe(true);
    expect(body).toContain('`src/@admin <b>.ts`');
  });
  it('is null when nothing is missing', () => {
    expect(renderComment({ unsigned: [], untestedSource: [], testGlobs: [], largeFiles: [], maxFileSize: 1 })).toBeNull();
  });
});

describe('the plan', () => {
  const config: PatchParserConfig = { ...parseBuildFile('jobs: { b: { steps: [make] } }').patch_parser, labels: [{ glob: 'docs/**', labels: ['area/docs'] }] };
  const state = (over: Partial<PullRequestState> = {}): PullRequestState => ({
    headSha: 'h'.repeat(40),
    commits: [signed('a')],
    files: [{ filename: 'docs/x.md', status: 'modified', additions: 3, deletions: 1 }],
    sizes: new Map([['docs/x.md', 10]]),
    labels: [],
    botComments: [],
    dcoStatus: null,
    ...over,
  });

  it('posts the status, the labels and no comment for a good pull request', () => {
    expect(plan(state(), config)).toEqual([
      { kind: 'status', sha: 'h'.repeat(40), state: 'success', description: 'All commits are signed off by their authors' },
      { kind: 'add-labels', labels: ['area/docs', 'size/XS'] },
    ]);
  });

  it('writes nothing when GitHub already shows what it would write', () => {
    const first = plan(state({ commits: [commit('b', 'S')] }), config);
    const comment = first.find((a) => a.kind === 'create-comment');
    const status = first.find((a) => a.kind === 'status');
    expect(comment && status).toBeTruthy();
    const again = state({
      commits: [commit('b', 'S')],
      labels: ['Area/Docs', 'size/XS'],
      botComments: [{ id: 7, body: (comment as { body: string }).body }],
      dcoStatus: { state: 'failure', description: (status as { description: string }).description },
    });
    expect(plan(again, config)).toEqual([]);
  });

  it('edits the one comment, removes duplicates and a stale size label, deletes the comment once all is well', () => {
    const edited = plan(
      state({
        commits: [commit('b', 'S')],
        labels: ['size/L', 'area/docs'],
        botComments: [
          { id: 1, body: `${COMMENT_MARKER}\nold` },
          { id: 2, body: COMMENT_MARKER },
        ],
      }),
      config,
    );
    expect(edited.filter((a) => a.kind !== 'status')).toEqual([
      { kind: 'remove-label', label: 'size/L' },
      { kind: 'add-labels', labels: ['size/XS'] },
      { kind: 'update-comment', id: 1, body: expect.stringContaining('b00000000000') },
      { kind: 'delete-comment', id: 2 },
    ]);
    expect(plan(state({ labels: ['area/docs', 'size/XS'], botComments: [{ id: 1, body: COMMENT_MARKER }] }), config)).toEqual([
      { kind: 'status', sha: 'h'.repeat(40), state: 'success', description: 'All commits are signed off by their authors' },
      { kind: 'delete-comment', id: 1 },
    ]);
  });

  it('asks for tests when source changed without them, and names files over the size limit', () => {
    const files: ChangedFile[] = [
      { filename: 'src/a.ts', status: 'modified', additions: 1, deletions: 0 },
      { filename: 'src/gone.ts', status: 'removed', additions: 0, deletions: 9 },
    ];
    const body = (plan(state({ files, sizes: new Map([['src/a.ts', 5 * 1024 ** 2]]) }), config).find((a) => a.kind === 'create-comment') as { body: string })
      .body;
    expect(body).toContain('**No test changed**: this changes source (`src/a.ts`)');
    expect(body).not.toContain('gone.ts');
    expect(body).toContain('`src/a.ts` (5.0 MiB)');
    const tested = plan(state({ files: [...files, { filename: 'test/a.test.ts', status: 'added', additions: 1, deletions: 0 }] }), config);
    expect(tested.some((a) => a.kind === 'create-comment')).toBe(false);
  });

  it('posts no status and asks for no sign-off with dco: false', () => {
    const actions = plan(state({ commits: [commit('b', 'S')] }), { ...config, dco: false });
    expect(actions.map((a) => a.kind)).toEqual(['add-labels']);
  });
});

describe('which build requests are pull requests to parse', () => {
  const request = {
    kind: 'pull_request' as const,
    delivery: 'd',
    repo: 'o/r',
    cloneUrl: 'https://github.com/o/r.git',
    ref: 'refs/pull/12/head',
    before: 'b'.repeat(40),
    after: 'a'.repeat(40),
    pusher: 'u',
    receivedAt: 0,
  };
  it('reads owner, repository, number, head and base from a pull request request', () => {
    expect(pullRequestOf(request)).toEqual({ owner: 'o', repo: 'r', number: 12, headSha: 'a'.repeat(40), baseSha: 'b'.repeat(40) });
  });
  it('leaves pushes and closed pull requests alone', () => {
    expect(pullRequestOf({ ...request, kind: 'push', ref: 'refs/heads/main' })).toBeNull();
    expect(pullRequestOf({ ...request, ref: 'refs/heads/main' })).toBeNull();
    expect(pullRequestOf({ ...request, pull: { action: 'closed' } } as typeof request)).toBeNull();
  });
});
