/**
 * `layer list` with 1,000 layers (100 chains of 10, imported through the library in process), timed
 * as a user runs it: `bin/shibafu --root R layer list [--json]`, Node's start included, with
 * hyperfine when present (else a loop of our own); `node -e 0` alongside as the floor.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore } from '../src/index.js';
import type { BenchContext } from './bench-context.js';
import { tinyLayerTar } from './fixtures.js';
import { benchEnv, have, median, nowMs, run, timeCommand } from './measure.js';

const LIST_TARGET = { max: 150, text: '< 150 ms' };
const CHAINS = 100;
const CHAIN_LENGTH = 10;

export async function listBench(ctx: BenchContext): Promise<void> {
  const root = ctx.lfs.fresh('list', 'root');
  ctx.log(`list: creating ${CHAINS * CHAIN_LENGTH} layers (${CHAINS} chains of ${CHAIN_LENGTH}) through the library...`);
  const t0 = nowMs();
  const store = openStore({ root });
  try {
    for (let c = 0; c < CHAINS; c++) {
      for (let d = 0; d < CHAIN_LENGTH; d++) {
        const i = c * CHAIN_LENGTH + d;
        await store.createLayer({
          name: `c${c}-l${d}`, source: Readable.from([tinyLayerTar(i)]), ...(d > 0 ? { parent: `c${c}-l${d - 1}` } : {}),
        });
      }
    }
    if (store.listLayers().length !== CHAINS * CHAIN_LENGTH) throw new Error('list: the store does not hold 1,000 layers');
  } finally {
    store.close();
  }
  ctx.log(`  created in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  const commands: [string, string[], boolean][] = [
    ['node -e 0 (reference: Node start)', [process.execPath, '-e', '0'], false],
    ['shibafu layer list (1,000 layers)', [ctx.shibafuBin, '--root', root, 'layer', 'list'], true],
    ['shibafu layer list --json (1,000 layers)', [ctx.shibafuBin, '--root', root, 'layer', 'list', '--json'], true],
  ];
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (ca !== undefined) commands.push([`node -e 0 with NODE_EXTRA_CA_CERTS (as this sandbox sets it)`, ['/usr/bin/env', `NODE_EXTRA_CA_CERTS=${ca}`, process.execPath, '-e', '0'], false]);
  // Each command once, checked, before timing: a failing command must not be timed as a fast one.
  for (const [, argv] of commands) run(argv[0]!, argv.slice(1), { env: benchEnv() });
  let medians: Timing[];
  try {
    medians = have('hyperfine') ? viaHyperfine(ctx, commands.map((c) => c[1])) : commands.map((c) => ownLoop(ctx, c[1]));
  } catch (err) {
    // hyperfine hides the failing command's output: our own loop shows it (and still times).
    ctx.log(`  hyperfine failed (${(err as Error).message.split('\n').slice(-2).join(' ')}); timing with our own loop`);
    medians = commands.map((c) => ownLoop(ctx, c[1]));
  }
  commands.forEach(([name, , targeted], i) => {
    ctx.rows.push({
      bench: 'list', name, value: medians[i]!.median, unit: 'ms', samples: medians[i]!.times,
      ...(targeted ? { target: LIST_TARGET } : {}), note: `${medians[i]!.times.length} runs, ${medians[i]!.tool}`,
    });
  });
}

interface Timing { median: number; times: number[]; tool: string }

function viaHyperfine(ctx: BenchContext, argvs: string[][]): Timing[] {
  const out = join(ctx.scratch, 'hyperfine.json');
  const quote = (a: string): string => (/^[\w./=@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  run('hyperfine', [
    '--shell=none', '--warmup', '3', '--runs', String(ctx.cliRuns), '--export-json', out, '--style', 'none',
    ...argvs.map((argv) => argv.map(quote).join(' ')),
  ], { env: benchEnv() });
  const json = JSON.parse(fs.readFileSync(out, 'utf8')) as { results: { median: number; times: number[] }[] };
  return json.results.map((r) => ({ median: r.median * 1000, times: r.times.map((t) => t * 1000), tool: 'hyperfine -N' }));
}

function ownLoop(ctx: BenchContext, argv: string[]): Timing {
  for (let i = 0; i < 3; i++) timeCommand(argv, { scratch: ctx.scratch, env: benchEnv() });
  const times = Array.from({ length: ctx.cliRuns }, () => timeCommand(argv, { scratch: ctx.scratch, env: benchEnv() }).wallMs);
  return { median: median(times), times, tool: 'own loop' };
}
