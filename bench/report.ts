/**
 * Benchmark results: one row per figure, its target from issue 2 where there is one, and the table
 * printed at the end of `npm run bench`.
 */

export type Unit = 'ms' | 's' | 'x' | 'MiB' | 'count';

export interface Target {
  /** The figure passes when it is at most this. */
  readonly max: number;
  /** As the issue states it. */
  readonly text: string;
}

export interface Row {
  readonly bench: 'import' | 'mount' | 'list' | 'profile' | 'changes' | 'run' | 'containers' | 'drivers' | 'images';
  readonly name: string;
  /** null when the measurement could not be made (see `note`). */
  readonly value: number | null;
  readonly unit: Unit;
  readonly target?: Target;
  readonly note?: string;
  readonly samples?: readonly number[];
}

export function verdict(row: Row): 'PASS' | 'MISS' | '' {
  if (row.target === undefined) return '';
  if (row.value === null || !Number.isFinite(row.value)) return 'MISS';
  return row.value <= row.target.max ? 'PASS' : 'MISS';
}

export function formatValue(value: number | null, unit: Unit): string {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  switch (unit) {
    case 's': return `${value.toFixed(value < 10 ? 3 : 2)} s`;
    case 'ms': return `${value.toFixed(value < 10 ? 2 : 1)} ms`;
    case 'x': return `${value.toFixed(2)}x`;
    case 'MiB': return `${value.toFixed(0)} MiB`;
    case 'count': return String(value);
  }
}

/** A plain-text table (also valid inside a Markdown code block). */
export function renderTable(rows: readonly Row[]): string {
  const lines = [['benchmark', 'figure', 'median', 'target', 'result', 'note']];
  for (const r of rows) {
    lines.push([r.bench, r.name, formatValue(r.value, r.unit), r.target?.text ?? '', verdict(r), r.note ?? '']);
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** A Markdown table of the same rows (for docs/benchmarks.md). */
export function renderMarkdown(rows: readonly Row[]): string {
  const out = ['| benchmark | figure | median | target | result | note |', '|---|---|--:|---|---|---|'];
  for (const r of rows) {
    out.push(`| ${r.bench} | ${r.name} | ${formatValue(r.value, r.unit)} | ${r.target?.text ?? ''} | ${verdict(r)} | ${r.note ?? ''} |`);
  }
  return out.join('\n');
}
