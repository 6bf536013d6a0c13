/**
 * The port through which the library mounts (STYLE.md: narrow ports, one fake for unit tests).
 * Everything above it deals in OverlayMountPlans; only the kernel implementation makes syscalls.
 */
import type { ShortLinks } from './legacy-mount-data.js';
import { mountOverlay, unmountOverlay, type MountApi } from './mount-overlay.js';
import type { OverlayMountPlan } from './plan-overlay-mount.js';

/**
 * Performs planned overlay mounts.
 * - `mount(plan)` mounts `plan` at `plan.target` or throws a ShibafuError.
 * - `unmount(target)` returns true if it unmounted something, false if nothing was mounted there.
 */
export interface Mounter {
  mount(plan: OverlayMountPlan): void;
  unmount(target: string): boolean;
}

export interface KernelMounterOptions {
  api?: MountApi;
  /** Short link names for a plan, for the legacy mount(2) path (the store builds them in `links/`). */
  shortLinks?: (plan: OverlayMountPlan) => ShortLinks | undefined;
  /** Unmount lazily (MNT_DETACH) so a busy mount never fails an unmount. */
  detach?: boolean;
}

/**
 * The Mounter that asks the kernel (needs CAP_SYS_ADMIN).
 *
 * @example
 * const mounter = kernelMounter({ shortLinks: (plan) => store.shortLinksFor(plan) });
 * mounter.mount(plan);
 * mounter.unmount(plan.target);
 */
export function kernelMounter(options: KernelMounterOptions = {}): Mounter {
  return {
    mount(plan) {
      const shortLinks = options.shortLinks?.(plan);
      mountOverlay(plan, {
        ...(options.api === undefined ? {} : { api: options.api }),
        ...(shortLinks === undefined ? {} : { shortLinks }),
      });
    },
    unmount(target) {
      return unmountOverlay(target, { detach: options.detach === true });
    },
  };
}
