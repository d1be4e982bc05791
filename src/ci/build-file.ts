/**
 * `.lxcts.yml`, the build file: parsed with `yaml` (which keeps every node's position) and
 * validated with a zod schema, so that each mistake is reported at its line and column
 * with what was expected.
 */
import * as path from 'node:path';

import { isMap, isPair, isScalar, LineCounter, parseDocument, YAMLMap } from 'yaml';
import { z } from 'zod';

import { DURATION_PATTERN, parseDuration, parseSize, SIZE_PATTERN } from './limits';
import { secretNameProblem } from './secrets';

export const BUILD_FILE = '.lxcts.yml';

const duration = z
  .string()
  .regex(DURATION_PATTERN, 'expected a duration such as 90s, 20m or 1h')
  .transform((text) => parseDuration(text)!);

const size = z
  .union([z.number().int().positive(), z.string().regex(SIZE_PATTERN, 'expected a size such as 512M or 1G')])
  .transform((value) => (typeof value === 'number' ? value : parseSize(value)!))
  .refine((bytes) => bytes > 0 && Number.isSafeInteger(bytes), { message: 'expected a size above zero and below 8 PiB' });

const atLeast = (min: number, text: string) => size.refine((bytes) => bytes >= min, { message: `expected at least ${text}` });

/**
 * What a job may ask for beyond the defaults (limits.ts), up to the worker's ceilings.
 * The minimums keep a container startable: below them a build would fail as if the
 * machine were broken, not as the user's mistake it is.
 */
const limits = z.strictObject({
  memory: atLeast(32 * 1024 ** 2, '32M').optional(),
  pids: z.number().int().min(8, 'expected at least 8 processes').optional(),
  cpus: z.number().min(0.01, 'expected at least 0.01 CPUs').optional(),
  disk: atLeast(16 * 1024 ** 2, '16M').optional(),
  log: atLeast(1024, '1K').optional(),
});

/** A path relative to the checkout that stays inside it. */
const insideCheckout = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !path.normalize(p).split(path.sep).includes('..'), {
    message: 'expected a path inside the checkout (relative, without ..)',
  });

/**
 * An artifact: a glob (`bin/*`), or `{ path: bin/*, required: true }` when matching no
 * file must fail the build. Both become `{ path, required }`.
 */
const artifact = z
  .union([insideCheckout, z.strictObject({ path: insideCheckout, required: z.boolean().default(false) })], {
    error: 'expected a path glob, or { path: <glob>, required: true }',
  })
  .transform((value) => (typeof value === 'string' ? { path: value, required: false } : value));

/** A job's (or a base's) name: what the jobs map's keys and a re-run's `jobs` may be. */
export const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const name = z.string().regex(JOB_NAME, 'expected a name of letters, digits, _ . -');

const secretName = z.string().superRefine((value, ctx) => {
  const problem = secretNameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const job = z.strictObject({
  branches: z.array(z.string().min(1)).optional(),
  steps: z.array(z.string().min(1, 'expected a command')).min(1, 'expected at least one step'),
  artifacts: z.array(artifact).optional(),
  docs: insideCheckout.optional(),
  /** Absent: the default of limits.ts. */
  timeout: duration.optional(),
  limits: limits.optional(),
  network: z.boolean().default(false),
  /** Pull requests build this job too (read from the base branch's build file, never the head's). */
  pull_requests: z.boolean().default(false),
  env: z.record(z.string(), z.string()).optional(),
  /** The repository's secrets its steps get as variables (`ci secret set`). */
  secrets: z
    .array(secretName)
    .max(100)
    .refine((names) => new Set(names).size === names.length, { message: 'expected each secret once' })
    .optional(),
});

/** A GitHub label: at most 50 characters (GitHub's limit), no commas (label lists split on them), no control characters. */
// eslint-disable-next-line no-control-regex
const label = z.string().regex(/^[^,\x00-\x1f\x7f]{1,50}$/, 'expected a label name of 1 to 50 characters, without commas');
/** A glob over paths in the repository, as picomatch reads it (docs/** for everything under docs). */
const pathGlob = z
  .string()
  .min(1)
  .max(200)
  .refine((g) => !g.startsWith('/'), { message: 'expected a glob relative to the repository root' });

/** The patch-parser bot's checks (src/bot/); every field has a default. */
const patchParser = z.strictObject({
  /** Check the sign-offs (DCO) and post the lxcts/dco status. */
  dco: z.boolean().default(true),
  /** Changed files matching these are source: they call for a change under `tests`. */
  source: z.array(pathGlob).default(['src/**', 'lib/**']),
  /** Changed files matching these are tests. */
  tests: z.array(pathGlob).default(['test/**', 'tests/**', '**/*.test.*', '**/*_test.*', '**/*.spec.*']),
  /** A changed file bigger than this (at the pull request's head) is pointed out. */
  max_file_size: size.default(1024 ** 2),
});

/** What a file must configure: a job to build, or (a repository that only wants the bot) the bot. */
export const NOTHING_CONFIGURED =
  "expected at least one job, or the patch-parser bot's labels: or patch_parser: (a repository that wants only the bot may have no jobs)";

const buildFile = z
  .strictObject({
    base: name.default('host'),
    /** No jobs: a repository that wants only the patch-parser bot (workers build nothing for it). */
    jobs: z.record(name, job).default({}),
    /** Path glob → label(s) the patch-parser bot puts on a pull request changing such a path. */
    labels: z
      .record(pathGlob, z.union([label, z.array(label).min(1)]))
      .transform((rules) => Object.entries(rules).map(([glob, labels]) => ({ glob, labels: typeof labels === 'string' ? [labels] : labels })))
      .optional(),
    // Optional here, the defaults filled in below: whether the file names the bot at all decides
    // whether it may have no jobs.
    patch_parser: patchParser.optional(),
  })
  .superRefine((file, ctx) => {
    if (Object.keys(file.jobs).length > 0 || file.labels !== undefined || file.patch_parser !== undefined) return;
    ctx.addIssue({ code: 'custom', path: ['jobs'], message: NOTHING_CONFIGURED });
  })
  .transform(({ patch_parser, ...file }) => ({ ...file, patch_parser: patch_parser ?? patchParser.parse({}) }));

export type BuildFile = z.output<typeof buildFile>;
export type Job = BuildFile['jobs'][string];

export interface BuildFileProblem {
  line: number;
  column: number;
  /** Dotted path of the offending value, e.g. jobs.binaries.steps. */
  at: string;
  message: string;
}

export class BuildFileError extends Error {
  readonly code = 'BUILD_FILE_INVALID';

  constructor(
    readonly file: string,
    readonly problems: BuildFileProblem[],
  ) {
    super(`${file} is not valid:\n${problems.map((p) => `  ${file}:${p.line}:${p.column}: ${p.at ? `${p.at}: ` : ''}${p.message}`).join('\n')}`);
    this.name = 'BuildFileError';
  }
}

/** Parses and validates a build file's text; `file` only names it in messages. */
export function parseBuildFile(text: string, file = BUILD_FILE): BuildFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number | undefined) => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return { line, column: col };
  };
  if (doc.errors.length > 0) {
    throw new BuildFileError(
      file,
      doc.errors.map((e) => ({ ...position(e.pos[0]), at: '', message: e.message.split('\n')[0] ?? '' })),
    );
  }
  const parsed = buildFile.safeParse(doc.toJS() ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue): BuildFileProblem => {
    const at = issue.path.map(String).join('.');
    let node = doc.getIn(issue.path as Array<string | number>, true) as { range?: [number, number, number] } | undefined;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      // Point at the first unknown key itself, not at the map holding it.
      const map = (issue.path.length ? doc.getIn(issue.path as Array<string | number>, true) : doc.contents) as YAMLMap | undefined;
      const pair = isMap(map) ? map.items.find((p) => isPair(p) && isScalar(p.key) && issue.keys.includes(String(p.key.value))) : undefined;
      node = (pair?.key as typeof node) ?? node;
      message = `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    if (issue.code === 'invalid_type') {
      message = `expected ${issue.expected}, got ${describeValue(doc.getIn(issue.path as Array<string | number>))}`;
    }
    return { ...position(node?.range?.[0] ?? parentOffset(doc, issue.path)), at, message };
  });
  throw new BuildFileError(file, problems);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${JSON.stringify(value)}`;
}

/** For a missing key, the position of the mapping that lacks it. */
function parentOffset(doc: ReturnType<typeof parseDocument>, keyPath: PropertyKey[]): number | undefined {
  for (let n = keyPath.length - 1; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(keyPath.slice(0, n) as Array<string | number>, true)) as { range?: [number, number, number] } | null;
    if (node?.range) return node.range[0];
  }
  return 0;
}

/** Whether a job runs for a push to `branch` (no branch filter: always). */
export function jobRunsOn(job: Job, branch: string | null): boolean {
  return !job.branches || (branch !== null && job.branches.includes(branch));
}
