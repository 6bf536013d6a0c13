import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RETRY, isRetryableError, isRetryableStatus, parseRetryAfter, retryDelay } from './retry-policy.js';

test('retryable statuses: 408, 429 and 5xx other than 501 and 505', () => {
  assert.deepEqual([408, 429, 500, 502, 503, 504, 599].map(isRetryableStatus), [true, true, true, true, true, true, true]);
  assert.deepEqual([200, 201, 400, 401, 403, 404, 413, 416, 501, 505].map(isRetryableStatus), Array(10).fill(false));
});

test('retryable network errors by code: resets, timeouts, short bodies; not refusals or unknown hosts', () => {
  const e = (code: string): Error => Object.assign(new Error(code), { code });
  for (const code of ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ESHORTBODY', 'ERR_STREAM_PREMATURE_CLOSE']) assert.equal(isRetryableError(e(code)), true, code);
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EPROTO', 'DEPTH_ZERO_SELF_SIGNED_CERT']) assert.equal(isRetryableError(e(code)), false, code);
  assert.equal(isRetryableError(new Error('no code')), false);
});

test('Retry-After in seconds or as an HTTP date', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('3', now), 3000);
  assert.equal(parseRetryAfter(' 0 ', now), 0);
  assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:10 GMT', now), 10_000);
  assert.equal(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now), 0, 'a date in the past: at once');
  assert.equal(parseRetryAfter('soon', now), null);
  assert.equal(parseRetryAfter(undefined, now), null);
});

test('exponential backoff with jitter, capped; none after the last attempt', () => {
  const opts = { attempts: 5, baseDelayMs: 100, maxDelayMs: 500 };
  assert.deepEqual([1, 2, 3, 4].map((a) => retryDelay(a, opts, null, () => 0)), [100, 200, 400, 500]);
  assert.deepEqual([1, 2, 3, 4].map((a) => retryDelay(a, opts, null, () => 1)), [50, 100, 200, 250], 'up to half taken off');
  assert.equal(retryDelay(5, opts, null), null);
  assert.equal(retryDelay(1, { ...opts, attempts: 1 }, null), null);
});

test('a Retry-After is waited as asked, unless longer than the cap: then no retry', () => {
  assert.equal(retryDelay(1, DEFAULT_RETRY, 2000), 2000);
  assert.equal(retryDelay(1, DEFAULT_RETRY, DEFAULT_RETRY.maxDelayMs + 1), null);
});
