/**
 * Human output: tables, sizes, times, errors. Machine output is `--json` and never goes through here.
 */
import { isShibafuError, ShibafuError } from '../index.js';
import { print, type CliIo } from './io.js';

/** 1536 → "1.5 KiB" (binary units, as `du -h` and podman show). */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** An ISO time as "3 minutes ago", relative to `now`. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const steps: [number, string][] = [[60, 'minute'], [3600, 'hour'], [86400, 'day'], [86400 * 30, 'month'], [86400 * 365, 'year']];
  let unit = steps[0] as [number, string];
  for (const step of steps) if (s >= step[0]) unit = step;
  const n = Math.floor(s / unit[0]);
  return `${n} ${unit[1]}${n === 1 ? '' : 's'} ago`;
}

/**
 * Left-aligned columns separated by three spaces, as podman prints.
 *
 * @example
 * table([['NAME', 'SIZE'], ['base', '1.2 MiB']])
 */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ').trimEnd()).join('\n');
}

/** Pretty JSON for --json. */
export function printJson(io: CliIo, value: unknown): void {
  print(io, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * `error[CODE]: message` then `hint: ...` on stderr; returns the exit status.
 * Unknown errors are bugs: exit 1, with the stack when SHIBAFU_DEBUG is set.
 */
export function reportError(io: CliIo, err: unknown): number {
  if (isShibafuError(err)) {
    io.stderr.write(`error[${err.code}]: ${err.message}\n`);
    if (err.hint !== undefined) io.stderr.write(`hint: ${err.hint}\n`);
    if (io.env.SHIBAFU_DEBUG !== undefined && err.cause !== undefined) io.stderr.write(`cause: ${String((err.cause as Error).stack ?? err.cause)}\n`);
    return err.exitStatus;
  }
  if (err instanceof Error && err.name === 'AbortError') {
    io.stderr.write('error[INTERRUPTED]: interrupted; nothing was changed\n');
    return 130;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr.write(`error[INTERNAL]: ${e.message}\n`);
  io.stderr.write('hint: this is a bug in shibafu; run again with SHIBAFU_DEBUG=1 and report the output\n');
  if (io.env.SHIBAFU_DEBUG !== undefined) io.stderr.write(`${e.stack ?? ''}\n`);
  return new ShibafuError('INTERNAL', e.message).exitStatus;
}

/** A one-line progress display on stderr, only on a TTY. */
export function progress(io: CliIo): { update(text: string): void; done(): void } {
  if (io.stderr.isTTY !== true) return { update() {}, done() {} };
  let last = 0;
  let shown = false;
  return {
    update(text: string) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      io.stderr.write(`\r\x1b[K${text}`);
    },
    done() {
      if (shown) io.stderr.write('\r\x1b[K');
    },
  };
}
