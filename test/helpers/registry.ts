/**
 * Debian's `docker-registry` (CNCF distribution 2.8), started for a test on 127.0.0.1 with its
 * storage in a temp dir: open, with htpasswd users (Basic auth), or behind a token server
 * (test/helpers/token-server.ts). Stopped, and its dir removed, by `stop()`.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Digest } from '../../src/ids.js';
import type { RegistryClient } from '../../src/registry/registry-client.js';
import type { TestImage } from './oci-image.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const HTPASSWD_BIN = '/usr/bin/htpasswd';
export const SKOPEO_BIN = '/usr/bin/skopeo';

export type RegistryAuthMode =
  | { readonly kind: 'none' }
  | { readonly kind: 'htpasswd'; readonly users: Readonly<Record<string, string>> }
  | { readonly kind: 'token'; readonly realm: string; readonly service: string; readonly issuer: string; readonly certFile: string };

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of references. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly dir: string;
  /** What the registry printed (for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

/** Why registry tests cannot run here, or false. */
export function registryMissing(): string | false {
  for (const bin of [REGISTRY_BIN, HTPASSWD_BIN, SKOPEO_BIN]) {
    try {
      execFileSync(bin, ['--help'], { stdio: 'ignore' });
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return `${bin} is not installed (scripts/install-deps.sh installs it)`;
    }
  }
  return false;
}

/**
 * A free TCP port on 127.0.0.1 (the kernel's pick; released just before the caller binds it).
 *
 * @example
 * const port = await freePort();
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @example
 * const reg = await startRegistry({ kind: 'htpasswd', users: { alice: 'secret' } });
 * try { ... } finally { await reg.stop(); }
 */
export async function startRegistry(auth: RegistryAuthMode = { kind: 'none' }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(config, configYaml(dir, port, auth));
  let out = '';
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const reg: TestRegistry = {
    host: `127.0.0.1:${port}`,
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (await answers(port)) return reg;
    await sleep(50);
  }
  await reg.stop();
  throw new Error(`docker-registry did not start on port ${port}:\n${out}`);
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/', method: 'GET' }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function configYaml(dir: string, port: number, auth: RegistryAuthMode): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: shibafu-test-secret',
  ];
  if (auth.kind === 'htpasswd') {
    const file = join(dir, 'htpasswd');
    const entries = Object.entries(auth.users).map(([user, password]) =>
      execFileSync(HTPASSWD_BIN, ['-Bbn', user, password], { encoding: 'utf8' }).trim());
    writeFileSync(file, `${entries.join('\n')}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: shibafu-test', `    path: ${file}`);
  } else if (auth.kind === 'token') {
    lines.push('auth:', '  token:', `    realm: ${auth.realm}`, `    service: ${auth.service}`, `    issuer: ${auth.issuer}`, `    rootcertbundle: ${auth.certFile}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Runs skopeo and returns its stdout. Asynchronous: a token server of the test runs in this
 * process, and skopeo asks it for tokens.
 *
 * @example
 * JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/a:t`]))
 */
export function skopeo(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO_BIN, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(Object.assign(err, { message: `skopeo ${args.join(' ')}: ${err.message}\n${stderr}` }));
      else resolve(stdout);
    });
  });
}

/** A stream's bytes, whole (the tests' blobs are small). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * Pushes a test image's blobs (those the repository lacks) and then its manifest with the client.
 *
 * @example
 * const digest = await pushTestImage(client, 'team/app', 'v1', makeImage([smallLayer('a', 'b')], { format: 'oci' }));
 */
export async function pushTestImage(client: RegistryClient, repo: string, tag: string, image: TestImage): Promise<Digest> {
  for (const blob of [...image.layers, image.config]) {
    if (await client.headBlob(repo, blob.digest as Digest) !== null) continue;
    await client.uploadBlob(repo, blob.digest as Digest, blob.size, () => Readable.from([blob.bytes]));
  }
  return client.putManifest(repo, tag, image.manifest.bytes, image.manifest.mediaType);
}
