/**
 * Platforms (image-spec image-index.md): `os/architecture[/variant]`, matched as containerd's
 * platforms package does: Go's names for architectures, and arm64's variant v8 implied.
 */
import { ShibafuError } from '../errors.js';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** Node's process.arch → GOARCH, the names images use. */
const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64' };

/**
 * The platform of this host (what a pull picks from an index by default).
 *
 * @example
 * hostPlatform('x64') // { os: 'linux', architecture: 'amd64' }
 */
export function hostPlatform(arch: string = process.arch): Platform {
  const architecture = GO_ARCH[arch] ?? arch;
  return architecture === 'arm64' ? { os: 'linux', architecture, variant: 'v8' } : architecture === 'arm' ? { os: 'linux', architecture, variant: 'v7' } : { os: 'linux', architecture };
}

/**
 * Parses `os/arch[/variant]` (`--platform`). USAGE when it is not that.
 *
 * @example
 * parsePlatform('linux/arm64/v8') // { os: 'linux', architecture: 'arm64', variant: 'v8' }
 */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new ShibafuError('USAGE', `Cannot parse platform "${text}": expected OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture: GO_ARCH[architecture] ?? (architecture === 'aarch64' ? 'arm64' : architecture === 'x86_64' ? 'amd64' : architecture), ...(variant === undefined ? {} : { variant }) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant === undefined || p.variant === '' ? '' : `/${p.variant}`}`;
}

/** arm64 without a variant is v8 (containerd's normalization); other variants must match when both say one. */
function variantOf(p: Platform): string | undefined {
  if (p.variant !== undefined && p.variant !== '') return p.variant;
  return p.architecture === 'arm64' ? 'v8' : undefined;
}

/**
 * Whether an image for `candidate` runs where `wanted` is asked for. A wanted platform without a
 * variant takes any variant.
 *
 * @example
 * platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }) // true
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  const w = wanted.variant === undefined || wanted.variant === '' ? undefined : variantOf(wanted);
  return w === undefined || variantOf(candidate) === w;
}
