/**
 * When a registry request is tried again, and after how long. Registries and the proxies before
 * them answer 408, 429 and 5xx under load and drop connections; the peers retry (containerd 5
 * attempts, podman and crane 3) with exponential backoff. A refused connection or an unknown
 * host is not retried: nothing listens there, and waiting would only delay the error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode } from '../errors.js';

export interface RetryOptions {
  /** Tries in all, the first included. */
  readonly attempts: number;
  /** The wait before the second try; doubled for each next one. */
  readonly baseDelayMs: number;
  /** No wait longer than this, nor a `Retry-After` beyond it (the request fails instead). */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 250, maxDelayMs: 30_000 };

/**
 * True for statuses worth another try: request timeout, too many requests, and server errors
 * other than 501 (not implemented) and 505 (HTTP version): those will not change.
 *
 * @example
 * isRetryableStatus(503) // true
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'ENETRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'ESHORTBODY']);

/**
 * True for network failures worth another try: a reset or dropped connection ("socket hang up"
 * is ECONNRESET), a timeout, a temporary DNS failure, a body that ended early.
 *
 * @example
 * isRetryableError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })) // true
 */
export function isRetryableError(err: unknown): boolean {
  const code = errnoCode(err);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/**
 * A `Retry-After` value (seconds, or an HTTP date) in milliseconds from `now`, or null.
 *
 * @example
 * parseRetryAfter('3', Date.now()) // 3000
 */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/**
 * The wait before try number `attempt + 1` (after `attempt` failures, 1-based): the registry's
 * `Retry-After` when it gave one, else base * 2^(attempt-1) with up to 50% jitter (so many
 * clients do not come back in step), capped. Null: do not retry (out of attempts, or a
 * Retry-After longer than the cap).
 *
 * @example
 * retryDelay(1, DEFAULT_RETRY, null, () => 0) // 250
 * retryDelay(5, DEFAULT_RETRY, null) // null: the 5th try was the last
 */
export function retryDelay(attempt: number, options: RetryOptions, retryAfterMs: number | null, random: () => number = Math.random): number | null {
  if (attempt >= options.attempts) return null;
  if (retryAfterMs !== null) return retryAfterMs <= options.maxDelayMs ? retryAfterMs : null;
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp * (1 - 0.5 * random()));
}

/**
 * Waits `ms`, or rejects with the signal's reason when it aborts first.
 *
 * @example
 * await backoff(250, signal);
 */
export async function backoff(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return;
  await sleep(ms, undefined, signal === undefined ? undefined : { signal });
}
