/**
 * The service's connections: reads each request (and the descriptors passed with it), hands it to
 * the handler, forwards the signal bytes that follow, and writes the one-line answer. Knows the
 * wire, not the commands: what a request does is the handler's (src/cli/commands/service.ts).
 */
import * as fs from 'node:fs';
import { watchReadable } from '../sys/libc.js';
import { acceptUnix, listenUnix, receiveWithRights } from '../sys/unix-socket.js';
import { decodeRequest, encodeAnswer, MAX_REQUEST, type ServiceAnswer, type ServiceRequest } from './service-protocol.js';

/** A command request being served. */
export interface CommandCall {
  readonly cwd: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The client's descriptors 0, 1, 2, open in this process until the call ends. */
  readonly fds: readonly [number, number, number];
  /** Registers what to do with each signal the client receives (its number, as the client sent it). */
  onSignal(handler: (signo: number) => void): void;
  /** Called once if the client goes away before the answer (closed its end, or was killed). */
  onHangup(handler: () => void): void;
  /** Sends the exit status now, before the handler has finished (the client then exits). */
  answerEarly(status: number): void;
}

export interface ServiceHandlers {
  /** Serves a command; 'fallback' makes the client run it in a process of its own. */
  command(call: CommandCall): Promise<number | 'fallback'>;
  /** `shibafu service stop`: the answer is sent first. */
  stop(): void;
  /**
   * Told how many commands are in the service, each time that changes, and whether the one that
   * ended was served (not sent back with 'fallback'): the idle timeout counts served ones only.
   */
  busy?(commands: number, served: boolean): void;
}

/**
 * Listens at `socketPath` until `close()`. The path must not exist (the caller holds the
 * service lock and removed a stale one).
 *
 * @example
 * const listener = new ServiceListener(layout.serviceSocket, handlers);
 */
export class ServiceListener {
  readonly #fd: number;
  readonly #path: string;
  readonly #handlers: ServiceHandlers;
  readonly #stopWatching: () => void;
  readonly #connections = new Set<Connection>();
  #commands = 0;
  #closed = false;

  constructor(socketPath: string, handlers: ServiceHandlers) {
    this.#path = socketPath;
    this.#handlers = handlers;
    this.#fd = listenUnix(socketPath);
    this.#stopWatching = watchReadable(this.#fd, () => this.#acceptAll());
  }

  /** Connections being served. */
  get busy(): number {
    return this.#connections.size;
  }

  /** Stops listening and removes the socket file; calls being served go on to their answer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatching();
    fs.closeSync(this.#fd);
    fs.rmSync(this.#path, { force: true });
  }

  #acceptAll(): void {
    for (let conn = acceptUnix(this.#fd); conn !== null; conn = acceptUnix(this.#fd)) {
      const c = new Connection(conn, this.#handlers, (change) => {
        if (change === 'done') {
          this.#connections.delete(c);
          return;
        }
        this.#commands += change === 'command' ? 1 : -1;
        this.#handlers.busy?.(this.#commands, change === 'served');
      });
      this.#connections.add(c);
    }
  }
}

/** What a connection tells its listener: a command began, a command ended (served or sent back), the connection closed. */
type Change = 'command' | 'served' | 'fallback' | 'done';

interface CallHooks {
  signal?: (signo: number) => void;
  hangup?: () => void;
}

/** One client: reading its request, then its signals, until the answer is written. */
class Connection {
  readonly #fd: number;
  readonly #handlers: ServiceHandlers;
  readonly #onChange: (change: Change) => void;
  readonly #stopWatching: () => void;
  #request = Buffer.alloc(0);
  #fds: number[] = [];
  #call: CallHooks | null = null;
  /** Signal bytes that came before the handler listened for them (with the request's last bytes). */
  #pendingSignals: number[] = [];
  #answered = false;
  #done = false;

  constructor(fd: number, handlers: ServiceHandlers, onChange: (change: Change) => void) {
    this.#fd = fd;
    this.#handlers = handlers;
    this.#onChange = onChange;
    this.#stopWatching = watchReadable(fd, () => this.#readable());
  }

  #readable(): void {
    if (this.#done) return;
    try {
      if (this.#call === null) this.#readRequest();
      else this.#readSignals();
    } catch {
      // A client that breaks the protocol gets no answer: its connection is closed.
      this.#finish();
    }
  }

  #readRequest(): void {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const got = receiveWithRights(this.#fd, chunk);
      if (got === null) return;
      this.#fds.push(...got.fds);
      if (got.bytes === 0) throw new Error('the client left before its request was whole');
      this.#request = Buffer.concat([this.#request, chunk.subarray(0, got.bytes)]);
      if (this.#request.length > MAX_REQUEST + 8) throw new Error('request too large');
      const decoded = decodeRequest(this.#request);
      if (decoded === 'incomplete') continue;
      // What follows the request can only be signal bytes.
      this.#pendingSignals.push(...this.#request.subarray(decoded.size));
      this.#dispatch(decoded.request);
      return;
    }
  }

  #readSignals(): void {
    const buf = Buffer.allocUnsafe(64);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.#fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
        n = 0;
      }
      if (n === 0) {
        // The client is gone; the call goes on to its end, with nobody to answer.
        this.#stopWatching();
        this.#answered = true;
        this.#call?.hangup?.();
        return;
      }
      for (const signo of buf.subarray(0, n)) this.#signal(signo);
    }
  }

  #signal(signo: number): void {
    const handler = this.#call?.signal;
    if (handler === undefined) this.#pendingSignals.push(signo);
    else handler(signo);
  }

  #dispatch(request: ServiceRequest): void {
    const call: CallHooks = {};
    this.#call = call;
    if (request.kind !== 'command') {
      this.#answer({ kind: 'ok', pid: process.pid });
      this.#finish();
      if (request.kind === 'stop') this.#handlers.stop();
      return;
    }
    const fds = this.#fds;
    if (fds.length !== 3) {
      this.#finish();
      return;
    }
    this.#onChange('command');
    const served = this.#handlers.command({
      cwd: request.cwd,
      argv: request.argv,
      env: request.env,
      fds: [fds[0] as number, fds[1] as number, fds[2] as number],
      onSignal: (handler) => {
        call.signal = handler;
        for (const signo of this.#pendingSignals.splice(0)) handler(signo);
      },
      onHangup: (handler) => { call.hangup = handler; },
      answerEarly: (status) => this.#answer({ kind: 'exit', status }),
    });
    let outcome: Change = 'served';
    served.then(
      (result) => {
        if (result === 'fallback') outcome = 'fallback';
        this.#answer(result === 'fallback' ? { kind: 'fallback' } : { kind: 'exit', status: result });
      },
      () => this.#answer({ kind: 'exit', status: 1 }),
    ).finally(() => {
      this.#finish();
      this.#onChange(outcome);
    });
  }

  #answer(answer: ServiceAnswer): void {
    if (this.#answered) return;
    this.#answered = true;
    try {
      fs.writeSync(this.#fd, encodeAnswer(answer));
    } catch {
      // The client is gone: nothing to tell.
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#stopWatching();
    for (const fd of [...this.#fds, this.#fd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.#onChange('done');
  }
}
