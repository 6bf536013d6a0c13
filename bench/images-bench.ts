/**
 * Whole images (issue 12), side by side with what a user would run instead, in one run:
 *
 *   pull   `shibafu pull` of a ~200 MB four-layer image (gzip layers) from a local
 *          docker-registry into an empty store, against `podman pull` (target: half its time)
 *          and `skopeo copy docker://... oci:DIR`
 *   load   `shibafu image load` of the image's docker-archive against `podman load`
 *   push   `shibafu push` into an empty registry against `skopeo copy oci:... docker://...`
 *
 * Each figure is the median of `runs` paired samples (the two commands back to back, the order
 * alternating), stores and registries fresh for every sample; shibafu's peak RSS is the largest
 * of all its runs (target: under 150 MiB). The image is made once and cached: four layers, each a
 * 40 MiB file of random bytes and 1,000 small text files, gzip'd, as an OCI layout.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeHeader, paddingFor } from '../src/tar/tar-header.js';
import { startRegistry } from '../test/helpers/registry.js';
import type { BenchContext } from './bench-context.js';
import { have, median, podmanStore, run, syncAll, timeCommand, type Timed } from './measure.js';
import { ByteSource } from './prng.js';
import type { Row } from './report.js';

const LAYERS = 4;
const BIG = 40 << 20;
const SMALL = 1_000;
const MTIME = 1_700_000_000;

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The cached OCI layout of the bench image (dir `img`, tag `1`) and its docker-archive. */
function benchImage(ctx: BenchContext): { layout: string; dockerArchive: string; bytes: number } {
  const root = join(ctx.cacheDir, 'images-bench-v1');
  const layout = join(root, 'oci');
  const dockerArchive = join(root, 'docker.tar');
  if (!fs.existsSync(join(layout, 'index.json'))) {
    ctx.log('images: generating the ~200 MB four-layer image (cached)...');
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    const put = (b: Buffer): string => {
      const d = sha256(b);
      fs.writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), b);
      return d;
    };
    const random = new ByteSource('images-bench');
    const diffIds: string[] = [];
    const layers: { mediaType: string; digest: string; size: number }[] = [];
    for (let l = 0; l < LAYERS; l++) {
      const parts: Buffer[] = [encodeHeader({ name: `layer${l}/`, typeflag: '5', mode: 0o755, mtime: MTIME })];
      parts.push(encodeHeader({ name: `layer${l}/big.bin`, typeflag: '0', mode: 0o644, size: BIG, mtime: MTIME }), random.take(BIG));
      for (let i = 0; i < SMALL; i++) {
        const body = Buffer.from(`layer ${l} file ${i}\n`.repeat(1 + (i % 40)));
        parts.push(encodeHeader({ name: `layer${l}/doc/f${i}.txt`, typeflag: '0', mode: 0o644, size: body.length, mtime: MTIME }), body, Buffer.alloc(paddingFor(body.length)));
      }
      parts.push(Buffer.alloc(1024));
      const tar = Buffer.concat(parts);
      diffIds.push(sha256(tar));
      const gz = gzipSync(tar);
      layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length });
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length }, layers,
    }));
    const md = put(manifest);
    fs.writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    fs.writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': '1' } }] }));
    run('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${layout}:1`, `docker-archive:${dockerArchive}:localhost/bench/img:1`]);
  }
  const bytes = fs.readdirSync(join(layout, 'blobs', 'sha256')).reduce((n, f) => n + fs.statSync(join(layout, 'blobs', 'sha256', f)).size, 0);
  return { layout, dockerArchive, bytes };
}

/** Both commands of a pair timed back to back, the order alternating; fresh state before each. */
interface Side { fresh(): void | Promise<void>; run(): Timed }

async function paired(ctx: BenchContext, a: Side, b: Side): Promise<{ a: number[]; b: number[]; ratios: number[]; rss: number }> {
  const out = { a: [] as number[], b: [] as number[], ratios: [] as number[], rss: 0 };
  for (let i = 0; i < ctx.runs; i++) {
    const order = i % 2 === 0 ? [a, b] : [b, a];
    const times = new Map<object, Timed>();
    for (const side of order) {
      await side.fresh();
      syncAll();
      times.set(side, side.run());
    }
    const ta = times.get(a) as Timed;
    const tb = times.get(b) as Timed;
    out.a.push(ta.wallMs);
    out.b.push(tb.wallMs);
    out.ratios.push(ta.wallMs / tb.wallMs);
    out.rss = Math.max(out.rss, (ta.maxRssKb ?? 0) / 1024);
  }
  return out;
}

/**
 * @example
 * await imagesBench(ctx); // rows 'images'
 */
export async function imagesBench(ctx: BenchContext): Promise<void> {
  const rows: Row[] = [];
  const missing = ['skopeo', 'podman', 'docker-registry'].find((p) => !have(p));
  if (missing !== undefined) {
    ctx.log(`images: skipped (${missing} is not installed)`);
    ctx.rows.push({ bench: 'images', name: 'pull / podman pull', value: null, unit: 'x', note: `${missing} is not installed` });
    return;
  }
  const image = benchImage(ctx);
  const work = ctx.lfs.fresh('images');
  const store = join(work, 'store');
  const podmanDir = join(work, 'podman');
  const ociOut = join(work, 'oci-out');
  const fresh = (...dirs: string[]) => (): void => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); };
  const shibafu = (...args: string[]): Timed => timeCommand([ctx.shibafuBin, '--root', store, ...args], { scratch: ctx.scratch });
  let rss = 0;
  const reg = await startRegistry();
  try {
    run('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${image.layout}:1`, `docker://${reg.host}/bench/img:1`]);
    const ref = `${reg.host}/bench/img:1`;
    ctx.log(`images: pull of ${(image.bytes / 2 ** 20).toFixed(0)} MiB (${LAYERS} gzip layers) from ${reg.host}...`);
    let pm = podmanStore(podmanDir);
    const podmanPull = { fresh: () => { pm.dispose(); fs.rmSync(podmanDir, { recursive: true, force: true }); pm = podmanStore(podmanDir); }, run: () => timeCommand(['podman', ...pm.args, 'pull', '-q', '--tls-verify=false', ref], { scratch: ctx.scratch }) };
    const ours = { fresh: fresh(store), run: () => shibafu('pull', '-q', '--tls-verify=false', ref) };
    const vsPodman = await paired(ctx, ours, podmanPull);
    const vsSkopeo = await paired(ctx, ours, { fresh: fresh(ociOut), run: () => timeCommand(['skopeo', '--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${ociOut}:1`], { scratch: ctx.scratch }) });
    rss = Math.max(rss, vsPodman.rss, vsSkopeo.rss);
    rows.push({ bench: 'images', name: 'pull / podman pull', value: median(vsPodman.ratios), unit: 'x', target: { max: 0.5, text: 'half of podman pull' }, samples: vsPodman.ratios, note: `${median(vsPodman.a).toFixed(0)} ms vs ${median(vsPodman.b).toFixed(0)} ms` });
    rows.push({ bench: 'images', name: 'pull / skopeo copy to oci:', value: median(vsSkopeo.ratios), unit: 'x', samples: vsSkopeo.ratios, note: `${median(vsSkopeo.a).toFixed(0)} ms vs ${median(vsSkopeo.b).toFixed(0)} ms` });

    ctx.log('images: load of its docker-archive...');
    const load = await paired(ctx, { fresh: fresh(store), run: () => shibafu('load', '-q', '-i', image.dockerArchive) },
      { fresh: podmanPull.fresh, run: () => timeCommand(['podman', ...pm.args, 'load', '-q', '-i', image.dockerArchive], { scratch: ctx.scratch }) });
    rss = Math.max(rss, load.rss);
    rows.push({ bench: 'images', name: 'image load / podman load (docker-archive)', value: median(load.ratios), unit: 'x', samples: load.ratios, note: `${median(load.a).toFixed(0)} ms vs ${median(load.b).toFixed(0)} ms` });
    pm.dispose();

    ctx.log('images: push into an empty registry...');
    // The image in the store once (not timed); each push goes to a registry of its own, empty.
    fs.rmSync(store, { recursive: true, force: true });
    shibafu('image', 'load', '-q', image.layout, '--tag', 'localhost/bench/img:1');
    let target = await startRegistry();
    const emptyRegistry = async (): Promise<void> => {
      await target.stop();
      target = await startRegistry();
    };
    try {
      const push = await paired(ctx,
        { fresh: emptyRegistry, run: () => shibafu('push', '-q', '--tls-verify=false', 'localhost/bench/img:1', `${target.host}/ours/img:1`) },
        { fresh: emptyRegistry, run: () => timeCommand(['skopeo', '--insecure-policy', 'copy', '-q', '--dest-tls-verify=false', `oci:${image.layout}:1`, `docker://${target.host}/theirs/img:1`], { scratch: ctx.scratch }) });
      rss = Math.max(rss, push.rss);
      rows.push({ bench: 'images', name: 'push / skopeo copy', value: median(push.ratios), unit: 'x', samples: push.ratios, note: `${median(push.a).toFixed(0)} ms vs ${median(push.b).toFixed(0)} ms` });
    } finally {
      await target.stop();
    }
    rows.push({ bench: 'images', name: 'peak RSS of pull, load, push', value: rss, unit: 'MiB', target: { max: 150, text: '< 150 MiB' } });
  } finally {
    await reg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  ctx.rows.push(...rows);
}
