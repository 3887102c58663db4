/**
 * Event-loop lag over time: a timer notes how late it fires. While the loop runs
 * synchronous work (building a TLS context, parsing a large body, signing a token), every
 * message waits; the lag says how long.
 */
import { performance } from 'node:perf_hooks';

/** Lag samples on the wall clock (epoch ms), so that traces of different processes line up. */
export interface LagTrace {
  times: number[];
  lags: number[];
}

export class LagRecorder {
  private readonly times: number[] = [];
  private readonly lags: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private expected: number;

  constructor(private readonly intervalMs = 5) {
    this.expected = performance.now() + intervalMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.times.push(now);
      this.lags.push(Math.max(0, now - this.expected));
      this.expected = now + this.intervalMs;
    }, intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The longest lag noted between `from` and `to` (performance.now() times). */
  maxLag(from: number, to: number): number {
    return maxLagBetween({ times: this.times, lags: this.lags }, from, to);
  }

  /** The samples with epoch-ms times (performance.timeOrigin + performance.now()). */
  trace(): LagTrace {
    return { times: this.times.map((t) => performance.timeOrigin + t), lags: [...this.lags] };
  }
}

/** The longest lag of `trace` between `from` and `to` (in the trace's time base). */
export function maxLagBetween(trace: LagTrace, from: number, to: number): number {
  let max = 0;
  for (let i = 0; i < trace.times.length; i += 1) {
    if (trace.times[i] >= from && trace.times[i] <= to && trace.lags[i] > max) max = trace.lags[i];
  }
  return max;
}
