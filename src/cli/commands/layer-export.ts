import type { Command } from '../command.js';
import { str } from '../command.js';
import { humanSize, printJson, progress } from '../render.js';
import { withStore } from '../with-store.js';
import { type Compression, ShibafuError } from '../../index.js';
import { print } from '../io.js';

export const layerExport: Command = {
  name: 'layer export',
  summary: 'Write a layer as an OCI layer tar (plain, gzip, zstd) whose sha256 is its diffId',
  usage: 'LAYER [-o FILE] [--compression none|gzip|zstd]',
  details: [
    '  -o, --output FILE      write to FILE (made beside it, renamed into place once verified);',
    '                         default: stdout, which must not be a terminal',
    '  --compression KIND     none (default), gzip or zstd',
    'The same layer gives the same bytes every time. A layer imported from a tar is exported byte for',
    'byte as it was imported; the stream is checked against the diffId (error DIGEST_MISMATCH if the',
    "layer's files changed on disk, and no FILE is left). To stdout, the layer is verified in a first",
    'read before any byte is written. `layer create` of the export on another store gives the same chainId.',
    'A layer imported from a gzip or zstd archive keeps it as a blob: --compression of that kind writes',
    'those very bytes (same digest), checked against their digest as they stream.',
  ].join('\n'),
  examples: [
    'shibafu layer export app -o app.tar',
    'shibafu layer export app --compression zstd -o app.tar.zst',
    'shibafu layer export base | ssh host shibafu layer create base -',
  ],
  options: {
    output: { type: 'string', short: 'o' },
    compression: { type: 'string' },
  },
  args: { min: 1, max: 1 },
  async run(env, parsed) {
    const ref = parsed.positionals[0] as string;
    const compression = str(parsed, 'compression') ?? 'none';
    if (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') {
      throw new ShibafuError('USAGE', `Cannot use --compression ${compression}: expected none, gzip or zstd`);
    }
    const output = str(parsed, 'output');
    if (output === undefined || output === '-') {
      if (env.io.stdout.isTTY === true) {
        throw new ShibafuError('USAGE', 'Cannot write a layer archive to a terminal', {
          hint: `Write it to a file with -o FILE, or redirect stdout: shibafu layer export ${ref} > ${ref}.tar`,
        });
      }
      if (env.json) throw new ShibafuError('USAGE', 'Cannot print --json to stdout while stdout carries the archive', { hint: 'Add -o FILE.' });
    }
    const bar = progress(env.io);
    const target = output === undefined || output === '-'
      ? { stream: env.io.stdout }
      : { file: output.startsWith('/') ? output : `${env.io.cwd}/${output}` };
    const result = await withStore(env, null, (store) => store.exportLayer(ref, target, {
      compression: compression as Compression,
      signal: env.io.signal,
      onProgress: (bytes, phase) => bar.update(`${phase === 'verify' ? 'verifying' : 'exporting'} ${ref}: ${humanSize(bytes)}`),
    }));
    bar.done();
    if ('stream' in target) return 0;
    if (env.json) {
      printJson(env.io, { ...result, file: target.file });
      return 0;
    }
    print(env.io, `exported ${ref} to ${target.file}: ${humanSize(result.size)}${compression === 'none' ? '' : ` (${compression}, ${humanSize(result.tarSize)} uncompressed)`}\n`);
    print(env.io, `  diffId  ${result.diffId} (verified)\n  digest  ${result.digest}\n`);
    return 0;
  },
};
