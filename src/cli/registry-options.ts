/**
 * The options every command that talks to a registry shares (login, logout, pull, push):
 * `--tls-verify=false` and `--authfile FILE`, spelled as podman spells them.
 */
import { ShibafuError } from '../index.js';
import type { AuthFilePaths, RegistryApi } from '../index.js';
import { str, type CommandEnv, type OptionSpec, type Parsed } from './command.js';

export const REGISTRY_OPTIONS: OptionSpec = {
  'tls-verify': { type: 'string' },
  authfile: { type: 'string' },
};

export const REGISTRY_OPTIONS_HELP = [
  '  --tls-verify=false   skip TLS verification, and use plain HTTP when the registry does not speak TLS',
  '  --authfile FILE      the credentials file (default: $REGISTRY_AUTH_FILE, else',
  '                       $XDG_RUNTIME_DIR/containers/auth.json, /run/containers/0/auth.json for root)',
].join('\n');

/**
 * `--tls-verify=true|false` (default true). node:util's parser takes no `=false` after a
 * boolean, so the option is a string here.
 *
 * @example
 * tlsVerifyOf(parsed) // false for --tls-verify=false
 */
export function tlsVerifyOf(parsed: Parsed): boolean {
  const v = str(parsed, 'tls-verify');
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new ShibafuError('USAGE', `Cannot use --tls-verify=${v}: expected true or false`);
}

/**
 * The credential files for this command: --authfile (relative to the working directory), else
 * the environment's, in podman's order.
 *
 * @example
 * const paths = authPathsOf(env, parsed, api);
 */
export function authPathsOf(env: CommandEnv, parsed: Parsed, api: Pick<RegistryApi, 'authFilePaths'>): AuthFilePaths {
  const flag = str(parsed, 'authfile');
  if (flag === '') throw new ShibafuError('USAGE', 'Cannot use an empty --authfile');
  const authFile = flag === undefined ? undefined : flag.startsWith('/') ? flag : `${env.io.cwd}/${flag}`;
  // The CLI is the one place that may read the process: its uid places root's default file.
  return api.authFilePaths({ env: env.io.env, uid: process.getuid?.() ?? 0, authFile });
}
