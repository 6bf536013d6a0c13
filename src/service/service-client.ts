/**
 * The Node side's own requests to a service (`service status`, `service stop`); commands reach
 * it through the native front end (native/shibafu-client.c), which passes its descriptors.
 */
import { createConnection } from 'node:net';
import { StoreLayout } from '../store/layout.js';
import { decodeAnswer, encodeRequest } from './service-protocol.js';

/**
 * Asks the service of `root`: its pid, or null when none answers (no socket, a dead one's
 * socket, or no answer within `timeoutMs`). A `stop` is answered before the service stops.
 *
 * @example
 * const pid = await askService('/var/lib/shibafu', 'ping');
 */
export function askService(root: string, kind: 'ping' | 'stop', timeoutMs = 2_000): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = createConnection(new StoreLayout(root).serviceSocket);
    let text = '';
    const done = (pid: number | null): void => {
      socket.destroy();
      clearTimeout(timer);
      resolve(pid);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write(encodeRequest({ kind })));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl < 0) return;
      const answer = decodeAnswer(text.slice(0, nl));
      done(answer?.kind === 'ok' ? answer.pid : null);
    });
    socket.on('end', () => done(null));
  });
}
