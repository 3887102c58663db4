/**
 * Retry timing for ITI-72 requests: exponential backoff with jitter, and Retry-After.
 */

export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  maxRetries: number;
  /** First backoff step, ms (default 200). */
  baseDelayMs: number;
  /** Longest wait between attempts, ms; also the cap for Retry-After (default 30_000). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = { maxRetries: 3, baseDelayMs: 200, maxDelayMs: 30_000 };

export function retryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const pick = (value: number | undefined, fallback: number): number =>
    value !== undefined && Number.isFinite(value) && value >= 0 ? value : fallback;
  return {
    maxRetries: Math.floor(pick(partial.maxRetries, DEFAULT_RETRY_POLICY.maxRetries)),
    baseDelayMs: pick(partial.baseDelayMs, DEFAULT_RETRY_POLICY.baseDelayMs),
    maxDelayMs: pick(partial.maxDelayMs, DEFAULT_RETRY_POLICY.maxDelayMs),
  };
}

/**
 * "Equal jitter": half of the exponential step is fixed, half random, so that clients that
 * failed together do not come back together, yet every wait is at least half the step.
 * `retry` counts from 0 (the first retry).
 */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(step / 2 + (step / 2) * random());
}

/**
 * Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3), capped at `maxDelayMs`.
 * Undefined when absent or unreadable (the caller then uses the backoff).
 */
export function retryAfterMs(value: string | undefined, maxDelayMs: number, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    // An HTTP date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse
    // alone would also accept "-1" or "2" as years.
    const date = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(date)) return undefined;
    ms = Math.max(0, date - now);
  }
  return Math.min(ms, maxDelayMs);
}

/**
 * Waits `ms`, or less when `signal` aborts (the caller then checks why). The timer is unref'd
 * and cleared on abort: a request waiting out a Retry-After never keeps a closed client alive.
 */
export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
  });
}
