/**
 * zstd through Debian's `zstd` tool as a stream (DESIGN.md: Node 20's zlib has no zstd, and no
 * npm binding installs here without downloading a prebuilt binary). Both directions stream:
 * memory stays bounded whatever the size.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { ShibafuError } from '../errors.js';

/**
 * Pipes `input` through `zstd -d` (or `zstd -N` to compress) and yields its output. The tool
 * decodes concatenated frames and passes over skippable frames (RFC 8878, 3.1.2) wherever they
 * stand, first included: zstd:chunked layers, whose table of contents lives in them, decompress
 * to their tar as they are (src/tar/layer-source.test.ts runs it on such streams).
 *
 * @example
 * for await (const chunk of zstdStream(rawChunks, 'decompress')) parser.write(chunk);
 */
export async function* zstdStream(input: AsyncIterable<Buffer>, mode: 'decompress' | 'compress', level = 3): AsyncGenerator<Buffer> {
  const args = mode === 'decompress' ? ['-d', '-c', '-q'] : [`-${level}`, '-c', '-q', '-T0'];
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let spawnError: unknown = null;
  let stderr = '';
  child.on('error', (err) => { spawnError = err; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { if (stderr.length < 4096) stderr += s; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
      }
      child.stdin.end();
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  })();
  // EPIPE on stdin when zstd stops early is reported through its exit status instead.
  child.stdin.on('error', () => {});
  let finished = false;
  try {
    for await (const chunk of child.stdout as Readable) yield chunk as Buffer;
    await feeding;
    const code = await exited;
    finished = true;
    if (spawnError !== null) {
      throw new ShibafuError('COMPRESSION_UNSUPPORTED', 'Cannot handle zstd: the `zstd` tool is not installed', {
        hint: 'apt-get install zstd', cause: spawnError,
      });
    }
    if (code !== 0) {
      throw new ShibafuError('COMPRESSION_CORRUPT', `Cannot ${mode} zstd stream: ${stderr.trim().split('\n').pop() ?? `zstd exited ${code}`}`);
    }
  } finally {
    if (!finished) {
      child.kill('SIGKILL');
      await feeding.catch(() => {});
    }
  }
}
