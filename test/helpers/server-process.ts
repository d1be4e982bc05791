/** `lxcts ci server` as a process of a test. */
import type { ChildProcess } from 'node:child_process';

import type { CliProcesses } from './pipeline';
import { waitFor } from './wait';

/** `lxcts ci server` on a free port; resolves with its URL once it printed it. */
export async function startServerProcess(processes: CliProcesses, ...flags: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = processes.start(['ci', 'server', '--listen', '127.0.0.1:0', ...flags], 'server');
  let url = '';
  await waitFor(
    () => {
      url = /lxcts CI server: (http:\/\/\S+?)\/?$/m.exec(processes.logOf(child))?.[1] ?? '';
      return url !== '' || child.exitCode !== null;
    },
    () => `the server's URL; its log:\n${processes.logOf(child)}`,
    { seconds: 60, everyMs: 100 },
  );
  if (!url) throw new Error(`the server exited ${child.exitCode}:\n${processes.logOf(child)}`);
  return { child, url };
}
