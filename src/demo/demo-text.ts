/**
 * The demos' prose layout, pure: step headings, labelled paragraphs, `ls -l`-like listings, sizes and
 * durations. Learners read this output line by line, so it is short, aligned and wrapped.
 */
import type { EntryType, TreeEntry } from './tree-listing.js';

/** Width prose is wrapped to: fits an 80-column terminal with the label column. */
export const TEXT_WIDTH = 78;
const LABEL_WIDTH = 10;
const INDENT = '  ';

const TYPE_CHARS: Record<EntryType, string> = { file: '-', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', socket: 's' };

/**
 * `ls -l`'s mode column: type then rwx for user, group, other, with s/S and t/T.
 *
 * @example
 * modeString('file', 0o644) // '-rw-r--r--'
 * modeString('char', 0)     // 'c---------'
 */
export function modeString(type: EntryType, mode: number): string {
  const rwx = (bits: number, special: boolean, char: string): string =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? char : char.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return TYPE_CHARS[type]
    + rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's')
    + rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's')
    + rwx(mode & 7, (mode & 0o1000) !== 0, 't');
}

/**
 * 1536 → "1.5 KiB"; exact bytes below 1 KiB (binary units, as `du -h`).
 *
 * @example
 * formatBytes(52428800) // '50.0 MiB'
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * A duration in ms with the precision it deserves: "0.012 ms", "3.4 ms", "812 ms".
 *
 * @example
 * formatMs(0.0123) // '0.012 ms'
 */
export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/**
 * Greedy word wrap; a word longer than the width gets a line of its own.
 *
 * @example
 * wrap('a b c', 3) // ['a b', 'c']
 */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/**
 * A step's heading, with a blank line before it.
 *
 * @example
 * heading('a', 'Three layers') // ['', '[a] Three layers', '    ────────────']
 */
export function heading(id: string, title: string): string[] {
  const text = `[${id}] ${title}`;
  return ['', text, `${' '.repeat(id.length + 3)}${'─'.repeat(title.length)}`];
}

/**
 * A labelled paragraph: the label in a left column, each line (wrapped unless `raw`) beside it.
 *
 * @example
 * labelled('why', ['Reads copy nothing.']) // ['  why       Reads copy nothing.']
 */
export function labelled(label: string, lines: readonly string[], options: { raw?: boolean } = {}): string[] {
  const body = options.raw === true ? lines : lines.flatMap((l) => wrap(l, TEXT_WIDTH - INDENT.length - LABEL_WIDTH));
  return body.map((line, i) => `${INDENT}${(i === 0 ? label : '').padEnd(LABEL_WIDTH)}${line}`.trimEnd());
}

/**
 * Left-aligned columns, two spaces apart (numbers right-aligned where `right` says).
 *
 * @example
 * columns([['a', '1'], ['bb', '22']], [false, true]) // ['a    1', 'bb  22']
 */
export function columns(rows: readonly (readonly string[])[], right: readonly boolean[] = []): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row
    .map((cell, i) => (right[i] === true ? cell.padStart(widths[i] ?? 0) : i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
    .join('  ')
    .trimEnd());
}

/** What the note column says about an entry: a whiteout, or overlay's xattrs. */
function entryNote(e: TreeEntry): string {
  const notes = Object.entries(e.xattrs).map(([name, value]) => (value.startsWith('0x') ? name : `${name}=${value}`));
  if (e.whiteout) notes.unshift('whiteout (c 0 0)');
  return notes.join(', ');
}

/**
 * A tree listing like `ls -l`: mode, size (devices as `0, 0`, major and minor), path, and a note
 * (whiteouts, overlay's xattrs). An empty tree says so.
 *
 * @example
 * formatListing([{ path: 'base.txt', type: 'char', mode: 0, size: 0, rdev: { major: 0, minor: 0 }, whiteout: true, xattrs: {} }])
 * // ['c---------  0, 0  base.txt  whiteout (c 0 0)']
 */
export function formatListing(entries: readonly TreeEntry[]): string[] {
  if (entries.length === 0) return ['(empty)'];
  return columns(entries.map((e) => [
    modeString(e.type, e.mode),
    e.rdev !== null ? `${e.rdev.major}, ${e.rdev.minor}` : String(e.size),
    e.type === 'dir' ? `${e.path}/` : e.path,
    entryNote(e),
  ]), [false, true]);
}

/**
 * A path made short for prose: relative to `base` when inside it, 64-hex ids cut to 12 (as
 * `shibafu layer list` shows them). Paths meant to be copied are printed in full elsewhere.
 *
 * @example
 * abbreviatePath('/tmp/d/store/layers/af3d…64 hex…/diff', '/tmp/d') // 'store/layers/af3d20a0ed84…/diff'
 */
export function abbreviatePath(path: string, base: string): string {
  const rel = path.startsWith(`${base}/`) ? path.slice(base.length + 1) : path;
  return rel.replace(/\b([0-9a-f]{12})[0-9a-f]{52}\b/g, '$1…');
}

/**
 * A text file's content for prose: quoted, its final newline dropped, other newlines shown as \n.
 *
 * @example
 * quoted('from app\n') // '"from app"'
 */
export function quoted(content: string): string {
  return JSON.stringify(content.endsWith('\n') ? content.slice(0, -1) : content);
}
