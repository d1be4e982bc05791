/**
 * liblxc runs other programs for some calls (rsync to copy a directory-backed rootfs)
 * and, when one is missing, logs only that a command could not be run. This turns those
 * log lines into the package to install.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A tool liblxc may run, how its failure shows in the log, and the Debian package with it. */
interface Tool {
  command: string;
  logPattern: RegExp;
  debianPackage: string;
}

// Only patterns seen in liblxc 5.0's log: a guess would send people to the wrong package.
const TOOLS: Tool[] = [{ command: 'rsync', logPattern: /Failed to rsync /, debianPackage: 'rsync' }];

/** Whether `command` is an executable file in one of the PATH's directories. */
export function onPath(command: string, searchPath = process.env.PATH ?? ''): boolean {
  return searchPath.split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The install command for the first tool that the log lines say liblxc failed to run and
 * that is indeed not on the PATH; undefined when nothing points at a missing tool.
 */
export function missingToolSuggestion(details: readonly string[], searchPath = process.env.PATH ?? ''): string | undefined {
  for (const tool of TOOLS) {
    if (details.some((line) => tool.logPattern.test(line)) && !onPath(tool.command, searchPath)) {
      return `liblxc needs \`${tool.command}\`, which is not installed: apt-get install ${tool.debianPackage} (scripts/setup-host.sh installs it)`;
    }
  }
  return undefined;
}
