/**
 * What container operations work with: the store's context and a way to reach the OCI runtime a
 * container names (a port, so unit tests can pass a fake).
 */
import type { StoreContext } from '../store/store-context.js';
import { ociRuntime, type OciRuntime } from '../runtime/oci-runtime.js';

export interface ContainerContext {
  readonly store: StoreContext;
  /** The runtime at `binary` (a path, or a name looked up in PATH), with its state under the store. */
  runtime(binary: string): OciRuntime;
}

/**
 * The real context: runc-compatible runtimes with their state in `<root>/runtime`.
 *
 * @example
 * const cc = containerContext(store.context);
 */
export function containerContext(store: StoreContext, runtime?: (binary: string) => OciRuntime): ContainerContext {
  return {
    store,
    runtime: runtime ?? ((binary) => ociRuntime({ binary, stateRoot: store.layout.runtimeState })),
  };
}
