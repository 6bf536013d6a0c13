/**
 * Starting a service in the background: a session of its own (no terminal signals reach it),
 * its output appended to the store's service log, its working directory `/` (it holds no
 * directory busy), and nobody waiting for it.
 */
import * as fs from 'node:fs';
import { spawnChild } from '../sys/child-process.js';

/**
 * @example
 * await launchService({ command: [node, cli, '--root', root, 'service', 'run'], logFile, env });
 */
export async function launchService(options: { command: readonly string[]; logFile: string; env: Readonly<Record<string, string | undefined>> }): Promise<void> {
  const [file, ...args] = options.command;
  if (file === undefined) throw new Error('launchService: empty command');
  const log = fs.openSync(options.logFile, 'a', 0o600);
  try {
    const child = await spawnChild(file, args, { stdio: ['ignore', log, log], newSession: true, cwd: '/', env: { ...options.env } });
    child.unref();
  } finally {
    fs.closeSync(log);
  }
}
