/**
 * `shibafu demo overlay`: the seed's Step 1-2 experiments (and seed 004's mount demo) run for real
 * through the layer store, step by step, showing what the upper dir holds after each and why.
 */
import type { CleanupReport, DemoDirs, DemoOutput, DemoStep } from './demo-output.js';
import { withSandbox } from './demo-sandbox.js';
import { runSteps } from './demo-step.js';
import { labelled } from './demo-text.js';
import { stepCreate, stepDelete, stepRead, stepReplaceDir, stepWrite } from './overlay-demo-changes.js';
import { stepFourDirs, stepStack, type DemoLayer, type OverlayRun } from './overlay-demo-stack.js';

export interface OverlayDemoOptions {
  /** Where the sandbox (temp dir) is made: the CLI passes $TMPDIR, else /tmp. */
  readonly tmpDir: string;
  /** A store to work in; null (the default) for a throw-away store in the sandbox. */
  readonly root: string | null;
  /** Leave the mount, layers and sandbox in place at the end (not after an error or Ctrl-C). */
  readonly keep: boolean;
  readonly out: DemoOutput;
  readonly signal: AbortSignal;
}

export interface OverlayDemoResult {
  readonly demo: 'overlay';
  /** The temp dir the demo worked in. */
  readonly sandbox: string;
  readonly store: string;
  /** True when the store was made for the demo (and removed with the sandbox). */
  readonly throwAwayStore: boolean;
  /** Bottom first. */
  readonly layers: readonly DemoLayer[];
  /** The writable mount's directories (step b on). */
  readonly dirs: DemoDirs;
  /** Steps a to g. */
  readonly steps: readonly DemoStep[];
  readonly cleanup: CleanupReport;
}

const INTRO = [
  'OverlayFS shows several directories as one: read-only lower layers, stacked, and one writable',
  'upper layer on top. Each step below does one thing through the merged view and shows what the',
  'kernel wrote into the upper dir.',
];

const OUTRO = [
  'What upper now holds is exactly this mount\'s changes: a modified file, a new one, a whiteout and an opaque dir. Committed, that is a new layer; in an OCI tar c 0 0 becomes .wh.NAME and opaque becomes .wh..wh..opq.',
];

/**
 * Runs the demo in a fresh sandbox and removes everything after it (also on error and on abort).
 *
 * @example
 * const result = await runOverlayDemo({ tmpDir: '/tmp', root: null, keep: false, out: SILENT_OUTPUT, signal });
 * result.steps.find((s) => s.id === 'a')?.facts.testTxt // 'from app\n'
 */
export async function runOverlayDemo(options: OverlayDemoOptions): Promise<OverlayDemoResult> {
  const { out, signal } = options;
  const { value, cleanup, sandbox, store, throwAway } = await withSandbox({ ...options, kind: 'overlay' }, async (box) => {
    out.say('shibafu demo overlay: OverlayFS by hand, through a real layer store');
    for (const line of labelled('sandbox', [`${box.dir}${options.keep ? '' : ' (removed at the end)'}`], { raw: true })) out.say(line);
    for (const line of labelled('store', [`${box.store.root}${box.throwAway ? ' (made for the demo)' : ''}`], { raw: true })) out.say(line);
    out.say('');
    for (const line of INTRO) out.say(line);
    const merged = box.path('merged');
    const run: OverlayRun = { box, signal, merged, layers: [], dirs: { lowers: [], upper: null, work: null, merged } };
    const steps = await runSteps([
      () => stepStack(run), () => stepFourDirs(run), () => stepRead(run), () => stepWrite(run),
      () => stepCreate(run), () => stepDelete(run), () => stepReplaceDir(run),
    ], { out, signal, dirs: () => run.dirs });
    out.say('');
    for (const line of labelled('in short', OUTRO)) out.say(line);
    return { steps, layers: [...run.layers], dirs: run.dirs };
  });
  return { demo: 'overlay', sandbox, store, throwAwayStore: throwAway, ...value, cleanup };
}
