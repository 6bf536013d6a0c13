/**
 * One store's service: the lock that makes it the only one, the socket it listens on, and its
 * end. A socket file found under the lock is a dead service's and is replaced.
 */
import * as fs from 'node:fs';
import { ShibafuError } from '../errors.js';
import { StoreLayout } from '../store/layout.js';
import { tryLock } from '../sys/flock.js';
import { ServiceListener, type CommandCall } from './service-listener.js';

export interface ServiceHost {
  readonly socketPath: string;
  /** Resolves once the service was stopped (`close()`, or a `stop` request). */
  readonly stopped: Promise<void>;
  /** Stops listening and gives up the lock; calls being served go on to their answer. */
  close(): void;
}

/**
 * Starts serving the store at `root` (which exists: the caller opened the store). Throws
 * SERVICE_RUNNING when another service holds it.
 *
 * @example
 * const host = hostService(root, { command: async (call) => 'fallback' });
 * await host.stopped;
 */
export function hostService(root: string, handlers: { command(call: CommandCall): Promise<number | 'fallback'> }, options: { idleMs?: number } = {}): ServiceHost {
  const layout = new StoreLayout(root);
  const lockFd = fs.openSync(layout.serviceLock, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  if (!tryLock(lockFd, true)) {
    fs.closeSync(lockFd);
    throw new ShibafuError('SERVICE_RUNNING', `Cannot start the service of ${root}: one is running already`, {
      hint: 'shibafu service status tells its pid; shibafu service stop ends it.',
    });
  }
  let listener: ServiceListener | undefined;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  let closed = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let commands = 0;
  let lastServed = Date.now();
  // No command served for idleMs (0 or absent: never): the service ends, as podman's does after
  // --time. Pings and commands sent back (`service status`, say) do not keep it alive.
  const checkIdle = (): void => {
    const left = lastServed + (options.idleMs ?? 0) - Date.now();
    if (commands === 0 && left <= 0) close();
    else idleTimer = setTimeout(checkIdle, Math.max(left, 50));
  };
  const busy = (count: number, served: boolean): void => {
    commands = count;
    if (served) lastServed = Date.now();
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(idleTimer);
    listener?.close();
    fs.closeSync(lockFd);
    stop();
  };
  try {
    // Under the lock, a socket file can only be a dead service's.
    fs.rmSync(layout.serviceSocket, { force: true });
    listener = new ServiceListener(layout.serviceSocket, { command: (call) => handlers.command(call), stop: close, busy });
    if (options.idleMs !== undefined && options.idleMs > 0) checkIdle();
  } catch (err) {
    fs.closeSync(lockFd);
    throw err;
  }
  return { socketPath: layout.serviceSocket, stopped, close };
}
