/**
 * The `shibafu` command line: `main(argv, io)` returns the exit status (tests call it directly).
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_ROOT, parseStorageDriver, parseStorageOptions, ShibafuError, type Store } from '../index.js';
import { parseCommand, flag, str, type Command, type CommandEnv } from './command.js';
import { print, type CliIo } from './io.js';
import { reportError } from './render.js';
import { COMMANDS, type CommandEntry } from './commands/index.js';

const GLOBAL_HELP = `shibafu: container image layers on overlayfs, and containers on them

Usage: shibafu [--root DIR] [--storage-driver NAME] COMMAND [ARGS...] [--json]

Global options:
  --root DIR              the store (default: $SHIBAFU_ROOT, else ${DEFAULT_ROOT})
  --storage-driver NAME   for a new store: overlay (default), fuse-overlayfs, btrfs or zfs
                          (default: $SHIBAFU_STORAGE_DRIVER); a store keeps the one it was made with
  --storage-opt KEY=VAL   a driver option for a new store (zfs.fsname=POOL/DATASET), repeatable
  --json        machine-readable output (every command that prints data)
  -h, --help    help for shibafu or for a command
  --version     print the version
`;

/**
 * Runs one command line.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2), io);
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  return await commandLine(argv, io, () => true) as number;
}

/**
 * What the service runs for a client (src/cli/commands/service.ts): `main`, except that a command
 * `serves(name, root)` declines is not run, and 'fallback' returned (the client then runs the
 * command line in a process of its own). Help, --version and usage errors are always served.
 * `openStore` gives the commands the store the service keeps open.
 *
 * @example
 * const status = await serveCommandLine(argv, io, (name, root) => root === myRoot, () => myStore);
 */
export function serveCommandLine(
  argv: string[], io: CliIo, serves: (name: string, root: string) => boolean, openStore: (root: string) => Store,
): Promise<number | 'fallback'> {
  return commandLine(argv, io, serves, openStore);
}

async function commandLine(
  argv: string[], io: CliIo, serves: (name: string, root: string) => boolean, openStore?: (root: string) => Store,
): Promise<number | 'fallback'> {
  try {
    const { globals, rest } = splitGlobals(argv);
    if (globals.version) {
      print(io, `shibafu ${version()}\n`);
      return 0;
    }
    const found = findCommand(rest);
    if (found === null) {
      if (rest.length === 0 || globals.help) {
        print(io, listHelp(GLOBAL_HELP, await Promise.all(COMMANDS.map((c) => c.load()))));
        return 0;
      }
      const group = COMMANDS.filter((c) => c.name.startsWith(`${rest[0]} `));
      if (group.length > 0 && (rest.length === 1 || rest[1] === '--help' || rest[1] === '-h')) {
        // `shibafu layer` alone is a usage error: the list goes to stderr, exit 2.
        const text = listHelp(`Usage: shibafu ${rest[0]} COMMAND\n`, await Promise.all(group.map((c) => c.load())));
        if (rest.length === 1) io.stderr.write(text);
        else print(io, text);
        return rest.length === 1 ? 2 : 0;
      }
      throw new ShibafuError('USAGE', `Cannot run "shibafu ${rest.slice(0, 2).join(' ')}": no such command`, { hint: 'shibafu --help lists the commands.' });
    }
    const cmd = await found.entry.load();
    const args = found.args;
    const parsed = parseCommand(cmd, args);
    if (globals.help || flag(parsed, 'help')) {
      print(io, commandHelp(cmd));
      return 0;
    }
    const env: CommandEnv = {
      io,
      root: str(parsed, 'root') ?? globals.root ?? io.env.SHIBAFU_ROOT ?? DEFAULT_ROOT,
      json: globals.json || flag(parsed, 'json'),
      ...storageOf(globals, io.env),
      ...(openStore !== undefined ? { openStore } : {}),
    };
    if (!serves(cmd.name, env.root)) return 'fallback';
    return await cmd.run(env, parsed);
  } catch (err) {
    return reportError(io, err);
  }
}

interface Globals { root: string | undefined; json: boolean; help: boolean; version: boolean; driver: string | undefined; storageOpts: string[] }

/** The storage driver asked for (flag, else environment) and its options, for a new store. */
function storageOf(globals: Globals, env: Readonly<Record<string, string | undefined>>): Pick<CommandEnv, 'storage'> {
  const driver = globals.driver ?? env.SHIBAFU_STORAGE_DRIVER;
  if (driver === undefined && globals.storageOpts.length === 0) return {};
  return { storage: { ...(driver !== undefined && driver !== '' ? { driver: parseStorageDriver(driver) } : {}), options: parseStorageOptions(globals.storageOpts) } };
}

/** Global options may stand before the command words: `shibafu --root /tmp/s layer list`. */
function splitGlobals(argv: string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = { root: undefined, json: false, help: false, version: false, driver: undefined, storageOpts: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--root') globals.root = argv[++i];
    else if (a.startsWith('--root=')) globals.root = a.slice('--root='.length);
    else if (a === '--storage-driver') globals.driver = argv[++i];
    else if (a.startsWith('--storage-driver=')) globals.driver = a.slice('--storage-driver='.length);
    else if (a === '--storage-opt') globals.storageOpts.push(argv[++i] ?? '');
    else if (a.startsWith('--storage-opt=')) globals.storageOpts.push(a.slice('--storage-opt='.length));
    else if (a === '--json') globals.json = true;
    else if (a === '--help' || a === '-h') globals.help = true;
    else if (a === '--version') globals.version = true;
    else break;
  }
  if (globals.root === '') throw new ShibafuError('USAGE', 'Cannot use an empty --root');
  return { globals, rest: argv.slice(i) };
}

/** The longest command name that prefixes `words` (`layer mounts` over `layer`). */
function findCommand(words: string[]): { entry: CommandEntry; args: string[] } | null {
  let best: { entry: CommandEntry; args: string[]; length: number } | null = null;
  for (const entry of COMMANDS) {
    const parts = entry.name.split(' ');
    if (parts.every((p, i) => words[i] === p) && (best === null || parts.length > best.length)) {
      best = { entry, args: words.slice(parts.length), length: parts.length };
    }
  }
  return best;
}

function listHelp(head: string, cmds: Command[]): string {
  const w = Math.max(...cmds.map((c) => c.name.length)) + 2;
  const lines = cmds.map((c) => `  ${c.name.padEnd(w)}${c.summary}`);
  return `${head}\nCommands:\n${lines.join('\n')}\n\nRun \`shibafu COMMAND --help\` for a command's options and examples.\n`;
}

function commandHelp(cmd: Command): string {
  const parts = [`${cmd.summary}\n`, `Usage: shibafu ${cmd.name} ${cmd.usage}\n`];
  if (cmd.details !== undefined) parts.push(`\nOptions:\n${cmd.details}\n`);
  parts.push(`\nExamples:\n${cmd.examples.map((e) => `  ${e}`).join('\n')}\n`);
  return parts.join('');
}

/** The package's version: package.json sits above dist/cli/shibafu.cjs (bundle) or dist/src/cli/main.js (tsc). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'shibafu' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not this layout
    }
  }
  return 'unknown';
}
