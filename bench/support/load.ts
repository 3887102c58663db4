/**
 * Load generators. An operation is one message (or one request) from start to completion.
 *
 * - closed loop: N operations in flight; each completion starts the next one;
 * - a burst: N operations started at once;
 * - open loop: operations started at a fixed rate, whatever the completions do, so that a
 *   slow moment shows up as latency instead of being hidden by a slower send rate.
 */
import { performance } from 'node:perf_hooks';

export type Operation = () => Promise<void>;

export interface LoopResult {
  /** Operations completed inside the measured window. */
  completed: number;
  errors: number;
  elapsedMs: number;
  /** completed / elapsed seconds. */
  perSecond: number;
  /** First error message seen, if any (a benchmark that errs measures the wrong thing). */
  firstError?: string;
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Keeps `concurrency` operations in flight for `warmupMs` (not counted) then `durationMs`
 * (counted), then waits for the stragglers; the window stretches until `minCompleted`
 * operations completed in it (so that a slow variant still yields a rate). With `count` (and
 * no warm-up), stops after that many completions instead (the window is then their time).
 */
export async function closedLoop(
  op: Operation,
  options: { concurrency: number; durationMs?: number; warmupMs?: number; count?: number; minCompleted?: number },
): Promise<LoopResult> {
  const { concurrency } = options;
  const warmupMs = options.warmupMs ?? 0;
  let measuring = warmupMs === 0;
  let windowStart = performance.now();
  let windowEnd = Number.POSITIVE_INFINITY;
  let completed = 0;
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stopping = false;
  let timeUp = false;
  const minCompleted = options.minCompleted ?? 0;

  const done = new Promise<void>((resolve) => {
    let inFlight = 0;
    const launch = (): void => {
      inFlight += 1;
      started += 1;
      op().then(
        () => finish(true),
        (err: unknown) => {
          errors += 1;
          firstError ??= describeError(err);
          finish(false);
        },
      );
    };
    const finish = (ok: boolean): void => {
      inFlight -= 1;
      const now = performance.now();
      if (ok && measuring && now <= windowEnd) {
        completed += 1;
        if (options.count !== undefined && completed >= options.count) {
          windowEnd = now;
          stopping = true;
        }
      }
      // errors count towards the minimum too: a variant that only fails must still stop
      if (timeUp && !stopping && completed + errors >= minCompleted) {
        windowEnd = now;
        stopping = true;
      }
      if (!stopping && (options.count === undefined || started < options.count)) launch();
      if (inFlight === 0) resolve();
    };
    const first = options.count === undefined ? concurrency : Math.min(concurrency, options.count);
    for (let i = 0; i < first; i += 1) launch();
  });

  const timers: NodeJS.Timeout[] = [];
  if (warmupMs > 0) {
    timers.push(
      setTimeout(() => {
        measuring = true;
        windowStart = performance.now();
        if (options.durationMs !== undefined) scheduleEnd(options.durationMs);
      }, warmupMs),
    );
  } else if (options.durationMs !== undefined) {
    scheduleEnd(options.durationMs);
  }
  function scheduleEnd(ms: number): void {
    timers.push(
      setTimeout(() => {
        timeUp = true;
        if (completed + errors >= minCompleted) {
          windowEnd = performance.now();
          stopping = true;
        }
      }, ms),
    );
  }

  await done;
  for (const timer of timers) clearTimeout(timer);
  const elapsedMs = Math.max(1e-3, (Number.isFinite(windowEnd) ? windowEnd : performance.now()) - windowStart);
  return { completed, errors, elapsedMs, perSecond: (completed / elapsedMs) * 1000, firstError };
}

export interface TimedResult {
  /** Start time (performance.now) and latency of each successful operation, in start order. */
  starts: number[];
  latenciesMs: number[];
  errors: number;
  firstError?: string;
  elapsedMs: number;
}

async function timed(op: Operation, into: TimedResult): Promise<void> {
  const start = performance.now();
  try {
    await op();
    into.starts.push(start);
    into.latenciesMs.push(performance.now() - start);
  } catch (err) {
    into.errors += 1;
    into.firstError ??= describeError(err);
  }
}

/** Starts `count` operations at once and waits for all of them. */
export async function burst(op: Operation, count: number): Promise<TimedResult> {
  const result: TimedResult = { starts: [], latenciesMs: [], errors: 0, elapsedMs: 0 };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, () => timed(op, result)));
  result.elapsedMs = performance.now() - t0;
  return result;
}

/**
 * Starts operations at `perSecond` for `durationMs` (catching up after a late timer so the
 * rate holds), then waits for all of them. With `maxInFlight`, a start that would exceed it
 * waits for a completion (the time spent so is `cappedMs`): a stall then cannot snowball
 * into hundreds of requests at once.
 */
export async function openLoop(op: Operation, options: { perSecond: number; durationMs: number; maxInFlight?: number }): Promise<TimedResult & { cappedMs: number }> {
  const result: TimedResult = { starts: [], latenciesMs: [], errors: 0, elapsedMs: 0 };
  const pending: Array<Promise<void>> = [];
  const maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const total = Math.floor((options.perSecond * options.durationMs) / 1000);
  let sent = 0;
  let inFlight = 0;
  let cappedMs = 0;
  let cappedSince: number | undefined;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - t0) * options.perSecond) / 1000));
      const capped = sent < due && inFlight >= maxInFlight;
      if (capped) cappedSince ??= now;
      else if (cappedSince !== undefined) {
        cappedMs += now - cappedSince;
        cappedSince = undefined;
      }
      while (sent < due && inFlight < maxInFlight) {
        inFlight += 1;
        pending.push(timed(op, result).finally(() => (inFlight -= 1)));
        sent += 1;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
  result.elapsedMs = performance.now() - t0;
  // completions arrive out of order: put them back in start order
  const order = result.starts.map((_, i) => i).sort((a, b) => result.starts[a] - result.starts[b]);
  result.starts = order.map((i) => result.starts[i]);
  result.latenciesMs = order.map((i) => result.latenciesMs[i]);
  return { ...result, cappedMs };
}
