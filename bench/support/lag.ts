/**
 * Event-loop lag over time: a 5 ms timer notes how late it fires. While the loop runs
 * synchronous work (building a TLS context, parsing a large body), every message waits;
 * the lag says how long.
 */
import { performance } from 'node:perf_hooks';

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
    let max = 0;
    for (let i = 0; i < this.times.length; i += 1) {
      if (this.times[i] >= from && this.times[i] <= to && this.lags[i] > max) max = this.lags[i];
    }
    return max;
  }
}
