/**
 * Reads back what the kernel was told: an overlay's per-superblock options as /proc/self/mountinfo
 * prints them. The demos show this so the learner sees the lowerdir order in the kernel's own words.
 */
import { unescapeMountField } from '../sys/mount-info.js';

export interface OverlayOptions {
  /** Lower dirs in the kernel's order: the top of the stack first. */
  readonly lowers: readonly string[];
  /** How the lowers were given: one `lowerdir+` per layer (new mount API) or one `lowerdir=a:b:c`. */
  readonly lowerSyntax: 'lowerdir+' | 'lowerdir' | null;
  readonly upper: string | null;
  readonly work: string | null;
  /** Everything else (`rw`, `uuid=on`, `redirect_dir=on`...), as printed. */
  readonly other: readonly string[];
}

/**
 * Parses overlay's super options (field 11 of a mountinfo line). Values stay escaped inside the field
 * (a comma in a path is `\054`), so splitting on `,` is safe; each value is unescaped after.
 * In the legacy `lowerdir=` list, overlay escapes a `:` inside a path as `\:`.
 *
 * @example
 * parseOverlayOptions('rw,lowerdir+=/l/app,lowerdir+=/l/base,upperdir=/u,workdir=/w').lowers // ['/l/app', '/l/base']
 */
export function parseOverlayOptions(superOptions: string): OverlayOptions {
  const lowers: string[] = [];
  let lowerSyntax: OverlayOptions['lowerSyntax'] = null;
  let upper: string | null = null;
  let work: string | null = null;
  const other: string[] = [];
  for (const option of superOptions.split(',').filter((o) => o !== '')) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? '' : option.slice(eq + 1);
    if (key === 'lowerdir+') {
      lowerSyntax = 'lowerdir+';
      lowers.push(unescapeMountField(value));
    } else if (key === 'lowerdir') {
      lowerSyntax = 'lowerdir';
      // "::" separates data-only lowers; they hold no names of their own, so they are listed alike.
      lowers.push(...value.split(/(?<!\\):+/).filter((p) => p !== '').map((p) => unescapeMountField(p).replace(/\\:/g, ':')));
    } else if (key === 'upperdir') {
      upper = unescapeMountField(value);
    } else if (key === 'workdir') {
      work = unescapeMountField(value);
    } else {
      other.push(option);
    }
  }
  return { lowers, lowerSyntax, upper, work, other };
}
