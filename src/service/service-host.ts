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
export function hostService(root: string, handlers: { command(call: CommandCall): Promise<number | 'fallback'> }): ServiceHost {
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
  const close = (): void => {
    if (closed) return;
    closed = true;
    listener?.close();
    fs.closeSync(lockFd);
    stop();
  };
  try {
    // Under the lock, a socket file can only be a dead service's.
    fs.rmSync(layout.serviceSocket, { force: true });
    listener = new ServiceListener(layout.serviceSocket, { command: (call) => handlers.command(call), stop: close });
  } catch (err) {
    fs.closeSync(lockFd);
    throw err;
  }
  return { socketPath: layout.serviceSocket, stopped, close };
}
