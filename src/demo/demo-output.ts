/**
 * What the teaching demos (`shibafu demo overlay`, `shibafu demo cow`) report, and the narrow port
 * they report through. The demos print prose for people through `say` and return the same facts as
 * typed data, which `--json` prints and the tests assert on.
 */
import type { TreeEntry } from './tree-listing.js';

/** A JSON value: the facts of a step are printed as-is by `--json`. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One step of a demo: what it did, what it saw, the upper dir after it, and why. */
export interface DemoStep {
  /** Stable short id (`a`..`g` for the overlay demo, words for the cow demo). */
  readonly id: string;
  readonly title: string;
  /** What the step did, one action per line. */
  readonly did: readonly string[];
  /** What it observed: file contents, sizes, timings in ms. */
  readonly facts: { readonly [key: string]: JsonValue };
  /** The upper dir after the step (null for a read-only mount, which has none). */
  readonly upper: readonly TreeEntry[] | null;
  /** The lesson, in a few sentences. */
  readonly why: readonly string[];
}

/** Where the demo's working files live, for the learner who wants to look with their own tools. */
export interface DemoDirs {
  /** The layers' diff dirs, top of the stack first (the kernel's lowerdir order). */
  readonly lowers: readonly string[];
  readonly upper: string | null;
  readonly work: string | null;
  readonly merged: string;
}

/**
 * The port a demo reports through. The CLI prints `say` lines on stdout (or nothing with `--json`)
 * and, with `--step`, waits for Enter in `afterStep`; tests look at the live directories there.
 *
 * @example
 * const out: DemoOutput = { say: (line) => process.stdout.write(`${line}\n`) };
 */
export interface DemoOutput {
  /** One line of prose, without its newline. */
  say(line: string): void;
  /** A problem the user must hear about even with `--json` (a clean-up that failed). */
  warn?(line: string): void;
  /**
   * Called after each step while everything is still mounted. It may wait (for a key press); it must
   * give up when `signal` aborts, so Ctrl-C during a pause still cleans up.
   */
  afterStep?(step: DemoStep, dirs: DemoDirs, signal: AbortSignal): Promise<void> | void;
}

/** What the clean-up did, or (with `keep`) what the learner can run to clean up later. */
export interface CleanupReport {
  readonly kept: boolean;
  /** Each action done (`unmounted ...`, `removed layer ...`), in order. */
  readonly done: readonly string[];
  /** With `keep`: the commands that remove what was kept. */
  readonly hints: readonly string[];
}

/** A port that prints nothing (for `--json` and quiet tests). */
export const SILENT_OUTPUT: DemoOutput = { say() {} };
