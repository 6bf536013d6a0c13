/**
 * Runs a demo's steps in order and prints each one the same way: heading, what it did, what it saw,
 * the upper dir, why. Between steps the abort signal is checked, so Ctrl-C stops at the next step
 * boundary and the sandbox's clean-up runs.
 */
import type { DemoDirs, DemoOutput, DemoStep } from './demo-output.js';
import { formatListing, heading, labelled } from './demo-text.js';

/** A step's data plus the lines only this step prints between `did` and `upper`. */
export interface ShownStep {
  readonly step: DemoStep;
  /** Pre-formatted lines (already labelled and indented). */
  readonly show: readonly string[];
  /** What the upper line says when `step.upper` is null. */
  readonly noUpper?: string;
}

/**
 * The lines a step prints.
 *
 * @example
 * renderStep({ step, show: labelled('saw', ['merged/test.txt = "from app"']) })
 */
export function renderStep(shown: ShownStep): string[] {
  const { step } = shown;
  const upper = step.upper === null
    ? labelled('upper', [shown.noUpper ?? '(none)'])
    : labelled('upper', formatListing(step.upper), { raw: true });
  return [
    ...heading(step.id, step.title),
    ...labelled('did', step.did, { raw: true }),
    ...shown.show,
    ...upper,
    ...labelled('why', step.why),
  ];
}

/**
 * Runs `steps` in order: each is printed through `out`, then `out.afterStep` may pause (or a test
 * may look at the live dirs). Throws the signal's reason as soon as it is aborted.
 *
 * @example
 * const steps = await runSteps([() => stepA(run), () => stepB(run)], { out, signal, dirs: () => run.dirs });
 */
export async function runSteps(
  steps: readonly (() => Promise<ShownStep> | ShownStep)[],
  options: { readonly out: DemoOutput; readonly signal: AbortSignal; readonly dirs: () => DemoDirs },
): Promise<DemoStep[]> {
  const done: DemoStep[] = [];
  for (const run of steps) {
    options.signal.throwIfAborted();
    const shown = await run();
    for (const line of renderStep(shown)) options.out.say(line);
    done.push(shown.step);
    options.signal.throwIfAborted();
    await options.out.afterStep?.(shown.step, options.dirs(), options.signal);
  }
  return done;
}
