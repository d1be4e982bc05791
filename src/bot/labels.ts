/**
 * The labels the patch-parser bot puts on a pull request: one per path rule of the base
 * branch's build file that a changed file matches, and one size label from the lines the
 * diff adds and removes.
 */
import picomatch from 'picomatch';

export interface LabelRule {
  glob: string;
  labels: string[];
}

/** Every label the size rule may set: the bot removes the others when the size changes. */
export const SIZE_LABEL_PREFIX = 'size/';

/**
 * Lines changed (added + removed) below which a pull request gets each size, as the
 * Kubernetes size labels: XS under 10, S under 30, M under 100, L under 500, XL from 500.
 */
export const SIZE_THRESHOLDS: ReadonlyArray<readonly [string, number]> = [
  ['XS', 10],
  ['S', 30],
  ['M', 100],
  ['L', 500],
];

export function sizeLabel(linesChanged: number): string {
  const size = SIZE_THRESHOLDS.find(([, below]) => linesChanged < below)?.[0] ?? 'XL';
  return `${SIZE_LABEL_PREFIX}${size}`;
}

/** A changed file as GitHub's pull request files list gives it. */
export interface ChangedFile {
  filename: string;
  /** added, removed, modified, renamed, copied, changed, unchanged */
  status: string;
  additions: number;
  deletions: number;
  /** The old name of a renamed file: it matches rules too (moving docs away is a docs change). */
  previous_filename?: string;
}

/** dot: rules like `docs/**` must match `docs/.vale.ini` too. */
function matcher(globs: string[]): (file: string) => boolean {
  return globs.length === 0 ? () => false : picomatch(globs, { dot: true });
}

export function filesMatch(files: ChangedFile[], globs: string[]): ChangedFile[] {
  const matches = matcher(globs);
  return files.filter((f) => matches(f.filename) || (f.previous_filename !== undefined && matches(f.previous_filename)));
}

/** The labels the rules give these files, in rule order, without repeats; then the size label. */
export function wantedLabels(files: ChangedFile[], rules: LabelRule[]): string[] {
  const labels = new Set<string>();
  for (const rule of rules) {
    if (filesMatch(files, [rule.glob]).length > 0) for (const l of rule.labels) labels.add(l);
  }
  labels.add(sizeLabel(files.reduce((sum, f) => sum + f.additions + f.deletions, 0)));
  return [...labels];
}
