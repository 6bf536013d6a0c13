import * as fs from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { str, type Command, type CommandEnv, type Parsed } from '../command.js';
import { openStore, ShibafuError, type Store, StoreLayout } from '../../index.js';
import { askService } from '../../service/service-client.js';
import { hostService } from '../../service/service-host.js';
import { launchService } from '../../service/service-launch.js';
import type { CommandCall } from '../../service/service-listener.js';
import { serveCommandLine } from '../main.js';
import { serviceIo } from '../service-io.js';
import { print } from '../io.js';
import { printJson } from '../render.js';

/**
 * Commands a service leaves to a process of their own: itself, the demos and login (they read
 * the terminal; a password is read with echo off, which needs the terminal as the process's own).
 */
const NOT_SERVED = new Set(['service', 'demo', 'login']);
/**
 * libuv's thread pool, which every foreground container of the service holds a thread of (the
 * runtime is reaped by waitpid on it): 4 threads by default would let a fifth `run` wait.
 */
const THREAD_POOL = '256';
const START_WAIT_MS = 10_000;
const TIME_OPTION = { time: { type: 'string' } } as const;
const TIME_HELP = '  --time SECONDS   end after this long without a command (default 0: never), as podman system service --time';

/** --time in milliseconds (0: never). */
function idleMs(parsed: Parsed): number {
  const text = str(parsed, 'time') ?? '0';
  if (!/^\d{1,7}$/.test(text)) throw new ShibafuError('USAGE', `Cannot use --time ${text}: expected whole seconds (0: never)`);
  return Number(text) * 1000;
}

const SERVICE_DETAILS = [
  'A service keeps one warm Node process per store: bin/shibafu (its native front end) passes each',
  'command, with its stdin, stdout, stderr, working directory and environment, to the service and',
  'exits with the status it returns; signals are forwarded. Without a service, or for a command it',
  'does not serve (service, demo), the CLI runs in a process of its own. SHIBAFU_SERVICE=off skips it.',
].join('\n');

export const serviceStart: Command = {
  name: 'service start',
  summary: 'Start the store\'s resident service in the background (commands skip Node\'s start)',
  usage: '',
  details: `${TIME_HELP}\n${SERVICE_DETAILS}`,
  examples: ['shibafu service start', 'shibafu --root /tmp/store service start --time 600'],
  options: TIME_OPTION,
  args: { min: 0, max: 0 },
  async run(env, parsed) {
    const root = absoluteRoot(env);
    const time = String(idleMs(parsed) / 1000);
    const running = await askService(root, 'ping');
    if (running === null) {
      const self = env.io.selfCommand;
      if (self === undefined) throw new ShibafuError('UNSUPPORTED', 'Cannot start a service from here: no command line to run it with');
      openStore({ root }).close(); // the root and its skeleton, before the service's log goes in it
      await launchService({ command: [...self, '--root', root, 'service', 'run', '--time', time], logFile: new StoreLayout(root).serviceLog, env: { ...env.io.env, UV_THREADPOOL_SIZE: THREAD_POOL } });
      const pid = await waitFor(() => askService(root, 'ping'), (p) => p !== null);
      if (pid === null) {
        throw new ShibafuError('INTERNAL', `Cannot start the service of ${root}: it did not answer within ${START_WAIT_MS / 1000} s`, {
          hint: `Its log: ${new StoreLayout(root).serviceLog}`,
        });
      }
      return report(env, root, pid, 'started');
    }
    return report(env, root, running, 'running');
  },
};

export const serviceStop: Command = {
  name: 'service stop',
  summary: 'Stop the store\'s service (commands it is running finish first)',
  usage: '',
  examples: ['shibafu service stop'],
  options: {},
  args: { min: 0, max: 0 },
  async run(env) {
    const root = absoluteRoot(env);
    const pid = await askService(root, 'stop');
    if (pid === null) {
      throw new ShibafuError('SERVICE_NOT_RUNNING', `Cannot stop the service of ${root}: none is running`, { hint: 'shibafu service start starts one.' });
    }
    await waitFor(() => askService(root, 'ping'), (p) => p === null);
    return report(env, root, pid, 'stopped');
  },
};

export const serviceStatus: Command = {
  name: 'service status',
  summary: 'Tell whether the store\'s service runs, and its pid',
  usage: '',
  examples: ['shibafu service status', 'shibafu service status --json'],
  options: {},
  args: { min: 0, max: 0 },
  async run(env) {
    const root = absoluteRoot(env);
    const pid = await askService(root, 'ping');
    if (env.json) printJson(env.io, { running: pid !== null, pid, socket: new StoreLayout(root).serviceSocket });
    else print(env.io, pid === null ? `not running (${root})\n` : `running, pid ${pid}, socket ${new StoreLayout(root).serviceSocket}\n`);
    return 0;
  },
};

export const serviceRun: Command = {
  name: 'service run',
  summary: 'Run the store\'s service in the foreground until stopped (what `service start` runs)',
  usage: '',
  details: `${TIME_HELP}\n${SERVICE_DETAILS}`,
  examples: ['shibafu service run', 'shibafu service run --time 5'],
  options: TIME_OPTION,
  args: { min: 0, max: 0 },
  async run(env, parsed) {
    const idle = idleMs(parsed);
    // Before the thread pool's first use; `service start` sets it in the environment too.
    process.env.UV_THREADPOOL_SIZE ??= THREAD_POOL;
    const root = absoluteRoot(env);
    // Opened once and kept: served commands use it (withStore) instead of opening their own.
    const store = openStore({ root });
    const self = env.io.selfCommand ?? [];
    const build = buildIdentity();
    const host = hostService(root, {
      command: async (call) => {
        // A rebuilt CLI is not this one: the client runs it itself, and this service ends.
        if (buildIdentity() !== build) {
          host.close();
          return 'fallback';
        }
        return serve(call, root, self, store);
      },
    }, { idleMs: idle });
    const onAbort = (): void => host.close();
    env.io.signal.addEventListener('abort', onAbort, { once: true });
    env.io.stderr.write(`shibafu service: pid ${process.pid}, socket ${host.socketPath}\n`);
    try {
      await host.stopped;
    } finally {
      store.close();
    }
    env.io.signal.removeEventListener('abort', onAbort);
    return 0;
  },
};

async function serve(call: CommandCall, root: string, self: readonly string[], store: Store): Promise<number | 'fallback'> {
  const { io, finish } = serviceIo(call, self);
  const served = await serveCommandLine([...call.argv], io, (name, commandRoot) =>
    !NOT_SERVED.has(name.split(' ')[0] as string) && isAbsolute(commandRoot) && resolve(commandRoot) === root, () => store);
  if (served === 'fallback') {
    await finish(0);
    return served;
  }
  return finish(served);
}

/** The root as an absolute path: the service and its clients must name the same socket. */
function absoluteRoot(env: CommandEnv): string {
  return resolve(env.io.cwd, env.root);
}

/** What identifies the code this process runs: its file's inode, size and mtime. */
function buildIdentity(): string {
  try {
    const st = fs.statSync(fileURLToPath(import.meta.url));
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'gone';
  }
}

async function waitFor<T>(ask: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await ask();
  for (let waited = 0; !done(value) && waited < START_WAIT_MS; waited += 20) {
    await sleep(20);
    value = await ask();
  }
  return value;
}

function report(env: CommandEnv, root: string, pid: number, state: 'started' | 'running' | 'stopped'): number {
  const socket = new StoreLayout(root).serviceSocket;
  if (env.json) printJson(env.io, { state, pid, socket });
  else print(env.io, state === 'stopped' ? `stopped the service (pid ${pid})\n` : `service ${state}: pid ${pid}, socket ${socket}\n`);
  return 0;
}
