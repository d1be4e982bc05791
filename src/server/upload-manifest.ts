/**
 * What a worker declares before uploading a job's output: which build it is, and every
 * file with its size and SHA-256. Each file is checked against it as it arrives, and the
 * upload commits only when every declared file came and matched. Paths are a stranger's
 * until checked here: relative, no '', '.', '..', leading '.', NUL, backslash or control
 * character in any component, within the length, depth and count limits.
 */
import { z } from 'zod';

import type { LocalPublication } from '../ci/builder';
import { MAX_DEPTH } from '../ci/collect';
import { branchProblem, fullNameProblem, isCommitId } from '../ci/names';
import { PULL_NUMBER } from '../ci/pull-request';

export interface UploadLimits {
  /** Files in one upload (binaries and docs together). */
  maxFiles: number;
  /** Bytes of one file. */
  maxFileBytes: number;
  /** Bytes of one upload. */
  maxTotalBytes: number;
  /** Bytes of one path (UTF-8). */
  maxPathBytes: number;
  /** Uploads open (created, not yet committed or refused) at once. */
  maxOpenUploads: number;
  /** An upload not committed by then is dropped (ms). */
  expiresAfterMs: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = {
  maxFiles: 20_000,
  maxFileBytes: 2 * 1024 ** 3,
  maxTotalBytes: 8 * 1024 ** 3,
  maxPathBytes: 1024,
  maxOpenUploads: 16,
  expiresAfterMs: 60 * 60 * 1000,
};

/** Files the publisher writes itself: never uploaded. */
export const METADATA_FILES = new Set(['SHA256SUMS', 'commit', 'version']);

export type UploadKind = 'binaries' | 'docs';

export interface ManifestFile {
  kind: UploadKind;
  path: string;
  size: number;
  sha256: string;
  /** Published with mode 0755 (else 0644), as collect.ts does for a build's files. */
  executable?: boolean;
}

/** Which build it is (as the worker's builder describes what it published), and the files. */
export interface UploadManifest extends Omit<LocalPublication, 'binariesDir' | 'docsDir' | 'signal'> {
  files: ManifestFile[];
}

// eslint-disable-next-line no-control-regex
const BAD_COMPONENT = /[\\\x00-\x1f\x7f]/;

const schema = z.strictObject({
  repo: z.string().refine((repo) => fullNameProblem(repo) === null, 'not a valid owner/name'),
  commit: z.string().refine(isCommitId, 'not a full commit id'),
  version: z
    .string()
    .min(1)
    .max(200)
    .refine((version) => !BAD_COMPONENT.test(version), 'has a control character or backslash'),
  branch: z
    .string()
    .refine((branch) => branchProblem(branch) === null, 'not a valid branch name')
    .nullable(),
  buildId: z.number().int().positive(),
  requestedAt: z.number().int().nonnegative(),
  forced: z.boolean(),
  /** A pull request's build: published under it (pull/<N>/, pull-request.ts), never at a branch's or the commit's place. */
  pull: z
    .number()
    .int()
    .refine((n) => PULL_NUMBER.test(String(n)), 'not a pull request number')
    .optional(),
  files: z.array(
    z.strictObject({
      kind: z.enum(['binaries', 'docs']),
      path: z.string(),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'not a SHA-256 in lowercase hex'),
      executable: z.boolean().optional(),
    }),
  ),
});

/** Why `file` is not an acceptable path to upload, or null. */
export function uploadPathProblem(file: string, limits: UploadLimits): string | null {
  if (Buffer.byteLength(file) > limits.maxPathBytes) return `is longer than ${limits.maxPathBytes} bytes`;
  if (file.startsWith('/')) return 'is absolute';
  const parts = file.split('/');
  if (parts.length > MAX_DEPTH) return `is more than ${MAX_DEPTH} directories deep`;
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') return 'has an empty, "." or ".." component';
    if (part.startsWith('.')) return 'has a component starting with "." (never served)';
    if (BAD_COMPONENT.test(part)) return 'has a NUL, control character or backslash';
    if (Buffer.byteLength(part) > 255) return 'has a component longer than 255 bytes';
  }
  return null;
}

/** The manifest, checked whole; throws with every reason when it is refused. */
export function parseManifest(input: unknown, limits: UploadLimits): UploadManifest {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new Error(`the manifest is not valid: ${z.prettifyError(parsed.error)}`);
  const manifest = parsed.data;
  const problems: string[] = [];
  // The worker's builder never gives a pull request's build a branch (pull-request.ts): one
  // that comes with both is not a build this worker made, whichever it was meant to reach.
  if (manifest.pull !== undefined && manifest.branch !== null) problems.push(`a pull request's build (#${manifest.pull}) names no branch`);
  if (manifest.files.length === 0) problems.push('it declares no file');
  if (manifest.files.length > limits.maxFiles) problems.push(`it declares ${manifest.files.length} files, more than ${limits.maxFiles}`);
  let total = 0;
  const seen = new Map<string, 'file' | 'dir'>();
  for (const file of manifest.files) {
    const shown = `${file.kind}/${JSON.stringify(file.path)}`;
    const problem = uploadPathProblem(file.path, limits);
    if (problem) problems.push(`${shown} ${problem}`);
    if (file.kind === 'binaries' && METADATA_FILES.has(file.path)) problems.push(`${shown} is written by the publisher`);
    if (file.size > limits.maxFileBytes) problems.push(`${shown} is ${file.size} bytes, more than ${limits.maxFileBytes}`);
    total += file.size;
    // A file may not also be a directory of another (a and a/b), nor come twice.
    const parts = file.path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const key = `${file.kind}/${parts.slice(0, i).join('/')}`;
      const as = i === parts.length ? 'file' : 'dir';
      const before = seen.get(key);
      if (before && (before === 'file' || as === 'file')) {
        problems.push(`${shown} clashes with another file`);
        break;
      }
      seen.set(key, as);
    }
    if (problems.length > 20) break;
  }
  if (total > limits.maxTotalBytes) problems.push(`it declares ${total} bytes, more than ${limits.maxTotalBytes}`);
  if (problems.length) throw new Error(`the manifest is refused: ${problems.join('; ')}`);
  return manifest;
}
