import type { Command, CommandEnv, Parsed } from '../command.js';
import { flag, str } from '../command.js';
import { print } from '../io.js';
import { canPrompt, prompt, readStdinLine } from '../prompt.js';
import { authPathsOf, REGISTRY_OPTIONS, REGISTRY_OPTIONS_HELP, tlsVerifyOf } from '../registry-options.js';
import { printJson } from '../render.js';
import { registryApi, ShibafuError, type RegistryCredentials } from '../../index.js';

export const login: Command = {
  name: 'login',
  summary: 'Log in to a registry: check the user name and password with it, then save them',
  usage: '[-u USER] [-p PASSWORD | --password-stdin] [--authfile FILE] [--tls-verify=false] REGISTRY',
  details: [
    '  -u, --username USER   the user name (asked for on a terminal when missing)',
    '  -p, --password PASS   the password (visible in the process list: prefer --password-stdin)',
    '  --password-stdin      read the password from stdin',
    REGISTRY_OPTIONS_HELP,
    'The credentials are checked against the registry before they are saved, as podman does; they go',
    'in the credentials file (mode 0600) that podman, skopeo and buildah share. Docker\'s',
    '~/.docker/config.json is read by pull and push, never written. REGISTRY may name a namespace',
    '(quay.io/team): those credentials are used for that part of the registry only.',
    'Without a user name and password, the saved ones are checked ("already logged in").',
  ].join('\n'),
  examples: [
    'echo "$TOKEN" | shibafu login -u ci --password-stdin registry.example.com',
    'shibafu login -u alice --tls-verify=false localhost:5000   # asks for the password',
    'shibafu login --authfile ./auth.json -u bot --password-stdin quay.io/team < secret.txt',
  ],
  options: {
    username: { type: 'string', short: 'u' },
    password: { type: 'string', short: 'p' },
    'password-stdin': { type: 'boolean' },
    ...REGISTRY_OPTIONS,
  },
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const registry = parsed.positionals[0] as string;
    const api = await registryApi();
    const paths = authPathsOf(env, parsed, api);
    const credentials = await credentialsOf(env, parsed, registry);
    const result = await api.loginToRegistry({ registry, credentials, paths, tlsVerify: tlsVerifyOf(parsed), signal: env.io.signal });
    if (env.json) printJson(env.io, result);
    else if (result.authFile === null) print(env.io, `already logged in to ${result.key} as ${result.username}\n`);
    else print(env.io, `logged in to ${result.key} as ${result.username}; credentials saved in ${result.authFile}\n`);
    return 0;
  },
};

/** The user name and password from the options, stdin or the terminal; null to check saved ones. */
async function credentialsOf(env: CommandEnv, parsed: Parsed, registry: string): Promise<RegistryCredentials | null> {
  let username = str(parsed, 'username');
  let password = str(parsed, 'password');
  const fromStdin = flag(parsed, 'password-stdin');
  if (fromStdin && password !== undefined) throw new ShibafuError('USAGE', 'Cannot take the password from both -p and --password-stdin');
  if (fromStdin && username === undefined) {
    throw new ShibafuError('USAGE', 'Cannot read the password from stdin without a user name', { hint: `shibafu login -u USER --password-stdin ${registry}` });
  }
  if (fromStdin) password = await readStdinLine(env.io);
  if (username === undefined && password === undefined && !canPrompt(env.io)) return null;
  if (username === undefined) {
    if (!canPrompt(env.io)) throw new ShibafuError('USAGE', `Cannot log in to ${registry}: -p without -u`, { hint: `shibafu login -u USER --password-stdin ${registry}` });
    username = await prompt(env.io, 'Username: ', { hidden: false });
  }
  if (password === undefined) {
    if (!canPrompt(env.io)) {
      throw new ShibafuError('USAGE', `Cannot log in to ${registry}: no password given and stdin is not a terminal to ask on`, {
        hint: `echo "$PASSWORD" | shibafu login -u ${username} --password-stdin ${registry}`,
      });
    }
    password = await prompt(env.io, 'Password: ', { hidden: true });
  }
  if (username === '' || password === '') throw new ShibafuError('USAGE', `Cannot log in to ${registry}: the user name and password must not be empty`);
  return { username, password };
}

export const logout: Command = {
  name: 'logout',
  summary: 'Remove the saved credentials of a registry (or of all, --all)',
  usage: '[--all] [--authfile FILE] [REGISTRY]',
  details: [
    '  -a, --all        remove the credentials of every registry from the file',
    REGISTRY_OPTIONS_HELP.split('\n').slice(1).join('\n'),
    'Credentials that Docker saved in ~/.docker/config.json are left alone (docker logout removes them).',
  ].join('\n'),
  examples: ['shibafu logout localhost:5000', 'shibafu logout --all', 'shibafu logout --authfile ./auth.json quay.io/team'],
  options: { all: { type: 'boolean', short: 'a' }, authfile: { type: 'string' } },
  args: { min: 0, max: 1 },
  async run(env, parsed) {
    const all = flag(parsed, 'all');
    const registry = parsed.positionals[0];
    if (all === (registry !== undefined)) {
      throw new ShibafuError('USAGE', all ? 'Cannot log out of one registry and --all at once' : 'Cannot log out: name a REGISTRY, or --all', { hint: 'shibafu logout REGISTRY | shibafu logout --all' });
    }
    const api = await registryApi();
    const result = api.logoutFromRegistry({ registry: registry ?? null, paths: authPathsOf(env, parsed, api) });
    if (env.json) printJson(env.io, result);
    else if (all) print(env.io, `removed the credentials of ${result.removed.length === 0 ? 'no registry (none were saved)' : result.removed.join(', ')} from ${result.authFile}\n`);
    else print(env.io, `removed the credentials of ${result.removed.join(', ')} from ${result.authFile}\n`);
    return 0;
  },
};
