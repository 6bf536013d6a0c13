/**
 * Per-layer progress for `image load`, `pull` and `push`, on stderr: on a terminal one line per
 * layer, redrawn in place at most ten times a second (a bar with bytes and rate while a blob
 * moves, then what became of it); otherwise one line per layer when it is done, for logs. Nothing
 * with --quiet or --json (the caller does not make one then).
 */
import type { CliIo } from './io.js';
import { humanSize } from './render.js';

export interface LayerLine {
  /** Bytes moved so far and the total, for a bar; absent for a state without bytes. */
  readonly bytes?: number;
  readonly total?: number;
  /** What is happening or what happened: `downloading`, `unpacked`, `stored`, `uploaded`... */
  readonly state: string;
  /** True once nothing more will happen to this layer (its line is final). */
  readonly final: boolean;
}

const BAR = 24;

export class LayerBars {
  readonly #io: CliIo;
  readonly #tty: boolean;
  readonly #lines = new Map<string, { label: string; line: LayerLine; started: number; printed: boolean }>();
  #drawn = 0;
  #last = 0;

  constructor(io: CliIo) {
    this.#io = io;
    this.#tty = io.stderr.isTTY === true;
  }

  /**
   * @example
   * bars.update('sha256:4f2a...', 'layer 1/3 4f2a9c0d1e2b', { state: 'downloading', bytes: 1 << 20, total: 8 << 20, final: false });
   */
  update(key: string, label: string, line: LayerLine): void {
    const entry = this.#lines.get(key) ?? { label, line, started: Date.now(), printed: false };
    entry.label = label;
    entry.line = line;
    this.#lines.set(key, entry);
    if (!this.#tty) {
      if (line.final && !entry.printed) {
        entry.printed = true;
        this.#io.stderr.write(`${label}: ${this.#text(entry)}\n`);
      }
      return;
    }
    const now = Date.now();
    if (!line.final && now - this.#last < 100) return;
    this.#last = now;
    this.#draw();
  }

  /** The last state of every line (on a terminal they stay on the screen, as podman's do). */
  done(): void {
    if (this.#tty && this.#lines.size > 0) this.#draw();
  }

  #draw(): void {
    const out: string[] = [];
    if (this.#drawn > 0) out.push(`\x1b[${this.#drawn}A`);
    for (const e of this.#lines.values()) out.push(`\r\x1b[K${e.label}: ${this.#text(e)}\n`);
    this.#drawn = this.#lines.size;
    this.#io.stderr.write(out.join(''));
  }

  #text(e: { line: LayerLine; started: number }): string {
    const { bytes, total, state } = e.line;
    if (bytes === undefined) return state;
    const seconds = Math.max((Date.now() - e.started) / 1000, 0.001);
    const rate = `${humanSize(bytes / seconds)}/s`;
    if (total === undefined || total === 0) return `${state} ${humanSize(bytes)} (${rate})`;
    const filled = Math.min(BAR, Math.round((bytes / total) * BAR));
    return `${state} [${'='.repeat(filled)}${filled < BAR ? '>' : ''}${' '.repeat(Math.max(0, BAR - filled - 1))}] ${humanSize(bytes)} / ${humanSize(total)} (${rate})`;
  }
}
