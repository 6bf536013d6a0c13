/**
 * One request to a registry as the client's parts describe it (blob downloads and uploads use
 * it through RegistryRequester), and the rules that say which requests may be sent again.
 */
import type { Readable } from 'node:stream';
import type { ShibafuError } from '../errors.js';
import type { HttpMethod, HttpResponse } from './http-transport.js';
import type { AuthScope } from './registry-auth.js';
import type { RegistryErrorContext } from './registry-error.js';

export interface RegistryCall {
  readonly method: HttpMethod;
  /** Absolute (an upload's Location), or a path under the registry's base (`/v2/...`). */
  readonly url: URL | string;
  /** The token scopes the request needs. */
  readonly scopes: readonly AuthScope[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes, or a function that opens the body afresh for each try. */
  readonly body?: Buffer | (() => Readable | Promise<Readable>);
  /**
   * Whether a failed try (network error, 408/429/5xx) is sent again. Default: yes. An upload's
   * PUT or PATCH says no: a registry may have kept part of a body it failed on, so its caller
   * starts a new upload instead.
   */
  readonly retry?: boolean;
  readonly signal?: AbortSignal | undefined;
  /** For the messages of errors. */
  readonly context: Pick<RegistryErrorContext, 'action' | 'object' | 'kind'>;
}

/** What the blob parts need of the client. */
export interface RegistryRequester {
  readonly registry: string;
  /**
   * Sends a call with auth, redirects and retries, and hands the final response (any status) to
   * `consume`, whose retryable failures (a body cut short) are retried too while `retry` allows.
   */
  call<T>(call: RegistryCall, consume: (res: HttpResponse, url: URL) => Promise<T>): Promise<T>;
  /** The catalog error for an unexpected response (its body read, bounded). */
  fail(res: HttpResponse, context: RegistryCall['context']): Promise<ShibafuError>;
}
