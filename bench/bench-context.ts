/**
 * What every benchmark gets from the runner: the loop fs, the fixtures' cache, the CLI to spawn,
 * the run counts, a logger (stderr) and the list its rows go to.
 */
import type { LoopFs } from './loop-fs.js';
import type { Row } from './report.js';

export interface BenchContext {
  readonly lfs: LoopFs;
  /** Where fixtures are cached between runs (on `/`, outside the loop fs: only read during timing). */
  readonly cacheDir: string;
  /** A scratch dir outside the loop fs (time(1) output, profiles). */
  readonly scratch: string;
  /** The repository root (where .bench/ goes). */
  readonly repoRoot: string;
  /** The snapshot of the build that runs (bin/, dist/, package.json; node_modules linked); repoRoot when absent. */
  readonly pkgRoot?: string;
  /** The snapshot's bin/shibafu, spawned as a user would: `#!/usr/bin/env node`, Node's start included. */
  readonly shibafuBin: string;
  /** Timed runs per import figure (median of these). */
  readonly runs: number;
  /** Iterations per mount figure. */
  readonly iterations: number;
  /** Runs per CLI start-up figure (layer list). */
  readonly cliRuns: number;
  readonly log: (line: string) => void;
  readonly rows: Row[];
  /** Extra structured output (profiles, syscall counts) for results.json. */
  readonly extra: Record<string, unknown>;
}
