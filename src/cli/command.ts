/**
 * The shape of one CLI command: parse → run (typed data) → render (table or --json).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ShibafuError, type StorageDriver, type Store } from '../index.js';
import type { CliIo } from './io.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}


export interface CommandEnv {
  readonly io: CliIo;
  /** The store root: --root, else SHIBAFU_ROOT, else /var/lib/shibafu. */
  readonly root: string;
  readonly json: boolean;
  /** For a new store: its storage driver and the driver's options (--storage-driver, --storage-opt). */
  readonly storage?: { readonly driver?: StorageDriver; readonly options: Readonly<Record<string, string>> };
  /** Set in the service (src/cli/commands/service.ts): the store it keeps open (see withStore). */
  readonly openStore?: (root: string) => Store;
}

export interface Command {
  /** Words after `shibafu`, e.g. `layer create`. */
  readonly name: string;
  readonly summary: string;
  /** Usage line after the command name. */
  readonly usage: string;
  /** Longer help: options, one per line. */
  readonly details?: string;
  readonly examples: readonly string[];
  readonly options: OptionSpec;
  /** Stop option parsing at the first positional (for commands that take a command line). */
  readonly stopAtPositional?: boolean;
  readonly args: { readonly min: number; readonly max: number };
  run(env: CommandEnv, parsed: Parsed): Promise<number>;
}

/** Options every command takes. */
export const COMMON_OPTIONS: OptionSpec = {
  root: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/**
 * Parses a command's arguments; usage errors are ShibafuError USAGE (exit 2).
 *
 * @example
 * parseCommand(cmd, ['base', 'rootfs.tar', '--parent', 'x'])
 */
export function parseCommand(cmd: Command, argv: string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs>;
  const options = { ...COMMON_OPTIONS, ...cmd.options };
  try {
    if (cmd.stopAtPositional === true) {
      const split = splitAtPositional(argv, options);
      parsed = parseArgs({ args: split.head, options, allowPositionals: true, strict: true });
      return { values: parsed.values as Parsed['values'], positionals: [...parsed.positionals, ...split.rest] };
    }
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new ShibafuError('USAGE', `Cannot parse \`shibafu ${cmd.name}\`: ${(err as Error).message}`, {
      hint: `shibafu ${cmd.name} --help`,
    });
  }
  const positionals = parsed.positionals;
  const values = parsed.values as Parsed['values'];
  if (values.help !== true && (positionals.length < cmd.args.min || positionals.length > cmd.args.max)) {
    throw new ShibafuError('USAGE', `Cannot run \`shibafu ${cmd.name}\`: expected ${describeCount(cmd.args)}, got ${positionals.length}`, {
      hint: `Usage: shibafu ${cmd.name} ${cmd.usage}`,
    });
  }
  return { values, positionals };
}

/** Splits argv where the first positional starts (everything after belongs to the container). */
function splitAtPositional(argv: string[], options: OptionSpec): { head: string[]; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return { head: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (!a.startsWith('-') || a === '-') return { head: argv.slice(0, i), rest: argv.slice(i) };
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] as string : findShort(options, a.slice(1, 2));
    const spec = name === undefined ? undefined : options[name];
    if (spec?.type === 'string' && !a.includes('=') && !(a.startsWith('-') && !a.startsWith('--') && a.length > 2)) i++;
  }
  return { head: argv, rest: [] };
}

function findShort(options: OptionSpec, short: string): string | undefined {
  return Object.entries(options).find(([, spec]) => spec.short === short)?.[0];
}

function describeCount(args: { min: number; max: number }): string {
  if (args.min === args.max) return `${args.min} argument${args.min === 1 ? '' : 's'}`;
  if (args.max === Infinity) return `at least ${args.min} argument${args.min === 1 ? '' : 's'}`;
  return `${args.min} to ${args.max} arguments`;
}

/** Reads a string option. */
export function str(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Reads a boolean option. */
export function flag(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}

/** Reads a repeatable string option. */
export function list(parsed: Parsed, name: string): string[] {
  const v = parsed.values[name];
  if (Array.isArray(v)) return v;
  return typeof v === 'string' ? [v] : [];
}

/** Reads a positive integer option (limits). */
export function int(parsed: Parsed, name: string): number | undefined {
  const v = str(parsed, name);
  if (v === undefined) return undefined;
  const n = parseSize(v);
  if (n === null) throw new ShibafuError('USAGE', `Cannot use --${name} ${v}: expected a positive number (suffixes k, M, G allowed)`);
  return n;
}

/** "10G", "512k", "1000" → bytes/count. */
export function parseSize(v: string): number | null {
  const m = /^([0-9]+)([kKmMgGtT]?)(i?[bB]?)?$/.exec(v);
  if (m === null) return null;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] as string).toLowerCase()] as number;
  const n = Number(m[1]) * mult;
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}
