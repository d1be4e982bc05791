/**
 * A FilesHost that runs lxcts-files on this host, in a directory of the test's, instead of
 * inside a container: the program's own refusals are tested without a container (and with
 * nothing in front of it: the frames are whatever the test sends).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';

import { ContainerProcess, ExitStatus } from '../../src';
import type { FileCallOptions, FilesHost } from '../../src/lxc/files';

export const FILES_PROGRAM = path.join(__dirname, '..', '..', 'build', 'Release', 'lxcts-files');

export function localFilesHost(): FilesHost {
  return {
    name: 'local',
    spawnFilesProgram: async (op: string, args: string[], _pipeStdin: boolean, limits: FileCallOptions = {}) => {
      const child = spawn(FILES_PROGRAM, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      await once(child, 'spawn');
      const exited = new Promise<ExitStatus>((resolve) => child.once('exit', (exitCode, signal) => resolve({ exitCode, signal })));
      return new ContainerProcess(
        { pid: child.pid!, stdin: child.stdin, stdout: child.stdout, stderr: child.stderr, kill: (s) => child.kill(s), exited },
        { op, container: 'local', ...limits },
      );
    },
  };
}
