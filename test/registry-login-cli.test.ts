/**
 * `shibafu login` and `logout`, run as the built CLI against docker-registry with htpasswd users
 * and with a token server: credentials checked before they are saved (a wrong password leaves
 * no file), the file podman and skopeo read (skopeo uses it to inspect), 0600, other entries
 * kept, REGISTRY_AUTH_FILE and --authfile, "already logged in", and logout's refusals.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { main } from '../src/cli/main.js';
import { runCli, SHIBAFU_BIN } from './helpers/cli.js';
import { fakeIo } from './helpers/fake-io.js';
import { registryMissing, skopeo, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTokenServer, type TokenServer } from './helpers/token-server.js';

const skip = registryMissing();
const scriptMissing = spawnSync('script', ['--version']).error === undefined ? false : 'util-linux script is not installed (a terminal for the prompt)';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('shibafu login / logout', { skip }, () => {
  let reg: TestRegistry;
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-login-'));
  let n = 0;
  /** A fresh HOME and runtime dir, so no test sees another's files (or the machine's). */
  const home = (): { env: Record<string, string>; authFile: string; home: string } => {
    const h = join(dir, `home${n++}`);
    mkdirSync(join(h, 'run'), { recursive: true });
    return { env: { HOME: h, XDG_RUNTIME_DIR: join(h, 'run'), XDG_CONFIG_HOME: join(h, '.config'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' }, authFile: join(h, 'run', 'containers', 'auth.json'), home: h };
  };
  before(async () => {
    reg = await startRegistry({ kind: 'htpasswd', users: { alice: 's3cret pass', bob: 'hunter2' } });
  });
  after(async () => {
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a good password is checked, then saved 0600 where podman and skopeo read it', async () => {
    const h = home();
    const r = await runCli(['login', '-u', 'alice', '--password-stdin', '--tls-verify=false', reg.host], { stdin: Buffer.from('s3cret pass\n'), env: h.env });
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `logged in to ${reg.host} as alice; credentials saved in ${h.authFile}\n`);
    assert.deepEqual(JSON.parse(readFileSync(h.authFile, 'utf8')), { auths: { [reg.host]: { auth: b64('alice:s3cret pass') } } });
    assert.equal(statSync(h.authFile).mode & 0o777, 0o600);
    // skopeo finds the same file through the same variables and logs in with it.
    await skopeo(['inspect', '--tls-verify=false', '--authfile', h.authFile, `docker://${reg.host}/nothing:here`]).then(
      () => assert.fail('no such image'),
      (err: Error) => assert.match(err.message, /manifest unknown|not found|name unknown/i),
    );
  });

  test('a wrong password: exit 8, REGISTRY_UNAUTHORIZED, and no file written', async () => {
    const h = home();
    const r = await runCli(['login', '-u', 'alice', '-p', 'wrong', '--tls-verify=false', reg.host], { env: h.env });
    assert.equal(r.status, 8);
    assert.match(r.stderr, new RegExp(`^error\\[REGISTRY_UNAUTHORIZED\\]: Cannot log in to ${reg.host}: the registry refused the credentials of user "alice"`));
    assert.match(r.stderr, /\nhint: Check the user name and password: shibafu login /);
    assert.equal(existsSync(h.authFile), false);
  });

  test('login keeps the other entries and fields; --authfile is relative to the working directory; --json', async () => {
    const h = home();
    const file = join(h.home, 'my-auth.json');
    writeFileSync(file, JSON.stringify({ auths: { 'quay.io': { auth: b64('q:q') }, [reg.host]: { auth: b64('old:old'), email: 'x@y' } }, credHelpers: { 'gcr.io': 'gcloud' } }));
    // In process, to give the command a working directory of its own.
    const f = fakeIo({ tty: false });
    const status = await main(['--json', 'login', '-u', 'bob', '-p', 'hunter2', '--authfile', 'my-auth.json', '--tls-verify=false', reg.host], { ...f.io, cwd: h.home, env: h.env });
    assert.equal(status, 0, f.err());
    assert.deepEqual(JSON.parse(f.out().toString()), { registry: reg.host, key: reg.host, username: 'bob', authFile: file });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {
      auths: { 'quay.io': { auth: b64('q:q') }, [reg.host]: { auth: b64('bob:hunter2'), email: 'x@y' } }, credHelpers: { 'gcr.io': 'gcloud' },
    });
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  test('REGISTRY_AUTH_FILE places the file; without a password the saved one is checked', async () => {
    const h = home();
    const file = join(h.home, 'env-auth.json');
    const env = { ...h.env, REGISTRY_AUTH_FILE: file };
    assert.equal((await runCli(['login', '-u', 'alice', '--password-stdin', '--tls-verify=false', reg.host], { stdin: Buffer.from('s3cret pass'), env })).status, 0);
    assert.ok(existsSync(file));
    const again = await runCli(['login', '--tls-verify=false', reg.host], { env });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, `already logged in to ${reg.host} as alice\n`);
    const none = await runCli(['login', '--tls-verify=false', reg.host], { env: h.env });
    assert.equal(none.status, 3);
    assert.match(none.stderr, /^error\[CREDENTIALS_NOT_FOUND\]: Cannot log in to .*: no user name and password given, and none saved in /);
  });

  test('usage errors: --password-stdin without -u, both -p and --password-stdin, a bad --tls-verify, a bad registry', async () => {
    const h = home();
    const cases: [string[], RegExp][] = [
      [['login', '--password-stdin', reg.host], /without a user name/],
      [['login', '-u', 'a', '-p', 'x', '--password-stdin', reg.host], /both -p and --password-stdin/],
      [['login', '-u', 'a', '-p', 'x', '--tls-verify=maybe', reg.host], /--tls-verify=maybe: expected true or false/],
      [['login', '-u', 'a', '-p', 'x', 'bad host'], /INVALID_REFERENCE/],
      [['logout'], /name a REGISTRY, or --all/],
      [['logout', '--all', reg.host], /and --all at once/],
    ];
    for (const [args, why] of cases) {
      const r = await runCli(args, { env: h.env });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
  });

  test('logout removes one registry, refuses one not logged in (naming Docker\'s file), and --all empties the file', async () => {
    const h = home();
    mkdirSync(join(h.home, 'run', 'containers'), { recursive: true });
    writeFileSync(h.authFile, JSON.stringify({ auths: { [reg.host]: { auth: b64('alice:x') }, 'quay.io': { auth: b64('q:q') }, 'quay.io/team': { auth: b64('t:t') } }, keep: 1 }));
    mkdirSync(join(h.home, '.docker'));
    writeFileSync(join(h.home, '.docker', 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } } }));

    const one = await runCli(['logout', reg.host], { env: h.env });
    assert.equal(one.status, 0, one.stderr);
    assert.equal(one.stdout, `removed the credentials of ${reg.host} from ${h.authFile}\n`);
    assert.deepEqual(JSON.parse(readFileSync(h.authFile, 'utf8')), { auths: { 'quay.io': { auth: b64('q:q') }, 'quay.io/team': { auth: b64('t:t') } }, keep: 1 });

    const twice = await runCli(['logout', reg.host], { env: h.env });
    assert.equal(twice.status, 3);
    assert.equal(twice.stderr, `error[CREDENTIALS_NOT_FOUND]: Cannot log out of ${reg.host}: not logged in (no credentials for it in ${h.authFile})\n`);

    const docker = await runCli(['logout', 'docker.io'], { env: h.env });
    assert.equal(docker.status, 3);
    assert.match(docker.stderr, new RegExp(`\nhint: Credentials for docker.io are in ${join(h.home, '.docker', 'config.json')}, which shibafu reads but never changes: docker logout removes them\\.\n$`));

    const ns = await runCli(['logout', 'quay.io/team'], { env: h.env });
    assert.equal(ns.status, 0, ns.stderr);
    const all = await runCli(['--json', 'logout', '--all'], { env: h.env });
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout), { removed: ['quay.io'], authFile: h.authFile });
    assert.deepEqual(JSON.parse(readFileSync(h.authFile, 'utf8')), { auths: {}, keep: 1 });
    assert.deepEqual(JSON.parse(readFileSync(join(h.home, '.docker', 'config.json'), 'utf8')).auths, { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } }, 'Docker\'s file untouched');
  });

  test('on a terminal, the user name is asked for, and the password without echo', { skip: scriptMissing }, async () => {
    const h = home();
    const envs = Object.entries(h.env).map(([k, v]) => `${k}='${v}'`).join(' ');
    const cmd = `${envs} ${process.execPath} ${SHIBAFU_BIN} login --tls-verify=false ${reg.host}`;
    // util-linux's script gives the CLI a terminal; each answer is typed once its question shows
    // (type-ahead would be echoed by the terminal itself, before the CLI turns echo off).
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8' }, (err, stdout) => (err === null ? resolve(stdout) : reject(err)));
      let seen = '';
      const answers: [string, string][] = [['Username: ', 'alice\r'], ['Password: ', 's3cret pass\r']];
      child.stdout?.on('data', (d: string) => {
        seen += d;
        while (answers.length > 0 && seen.includes(answers[0]![0])) {
          seen = seen.slice(seen.indexOf(answers[0]![0]) + answers[0]![0].length);
          child.stdin?.write(answers.shift()![1]);
        }
        if (answers.length === 0) child.stdin?.end();
      });
    });
    assert.equal(out, `Username: alice\r\nPassword: \r\nlogged in to ${reg.host} as alice; credentials saved in ${h.authFile}\r\n`);
    assert.deepEqual(JSON.parse(readFileSync(h.authFile, 'utf8')), { auths: { [reg.host]: { auth: b64('alice:s3cret pass') } } });
  });

  test('help has an example', async () => {
    const r = await runCli(['login', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Log in to a registry/);
    assert.match(r.stdout, /Examples:\n  echo "\$TOKEN" \| shibafu login -u ci --password-stdin/);
  });
});

describe('shibafu login against a token-auth registry', { skip }, () => {
  let reg: TestRegistry;
  let tokens: TokenServer;
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-login-token-'));
  before(async () => {
    tokens = await startTokenServer({ dir, users: { carol: 'pw' }, anonymousPull: false });
    reg = await startRegistry({ kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile });
  });
  after(async () => {
    await reg?.stop();
    await tokens?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the token server checks the password: good is saved, bad is refused', async () => {
    const env = { HOME: dir, XDG_RUNTIME_DIR: dir, REGISTRY_AUTH_FILE: '' };
    const bad = await runCli(['login', '-u', 'carol', '-p', 'nope', '--tls-verify=false', reg.host], { env });
    assert.equal(bad.status, 8);
    assert.match(bad.stderr, /^error\[REGISTRY_UNAUTHORIZED\]: Cannot get a token from http:\/\/127\.0\.0\.1:\d+ for 127\.0\.0\.1:\d+: it refused the credentials of user "carol" \(HTTP 401\)/);
    assert.equal(existsSync(join(dir, 'containers', 'auth.json')), false);
    const good = await runCli(['login', '-u', 'carol', '-p', 'pw', '--tls-verify=false', reg.host], { env });
    assert.equal(good.status, 0, good.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'containers', 'auth.json'), 'utf8')), { auths: { [reg.host]: { auth: b64('carol:pw') } } });
    // Login asks a token for no scope (as podman does): the credentials alone are checked.
    assert.deepEqual(tokens.requests.map((r) => [r.user, r.scopes]), [['carol', []], ['carol', []]]);
  });
});
