/**
 * Garbage collection on demand and memory sampling.
 *
 * `npm run bench` runs plain `tsx bench/run.ts`, without --expose-gc: the flag is switched on
 * at run time and the gc function fetched from a fresh context (V8 exposes it there once the
 * flag is set). Started with --expose-gc, the global one is used.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = () => void;

function findGc(): GcFunction {
  const existing = (globalThis as { gc?: GcFunction }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as GcFunction;
}

const gcNow = findGc();

/** Full collections until the heap stops shrinking (weak refs and finalizers need more than one). */
export async function collectGarbage(): Promise<void> {
  let before = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i += 1) {
    gcNow();
    // let finalizers and pending callbacks (closed sockets, timers) run between passes
    await new Promise((resolve) => setImmediate(resolve));
    const used = process.memoryUsage().heapUsed;
    if (used >= before * 0.99) break;
    before = used;
  }
}

export interface MemorySnapshot {
  rss: number;
  heapUsed: number;
}

export function snapshot(): MemorySnapshot {
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

/** After a full collection: what the process really keeps. */
export async function settledSnapshot(): Promise<MemorySnapshot> {
  await collectGarbage();
  return snapshot();
}

/**
 * Samples heap and RSS every `intervalMs` (and whenever `sample()` is called, e.g. as data
 * arrives) and keeps the peaks.
 */
export class PeakSampler {
  private peakHeap = 0;
  private peakRss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 5) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    if (heapUsed > this.peakHeap) this.peakHeap = heapUsed;
    if (rss > this.peakRss) this.peakRss = rss;
  }

  stop(): MemorySnapshot {
    clearInterval(this.timer);
    this.sample();
    return { rss: this.peakRss, heapUsed: this.peakHeap };
  }
}

/**
 * The live heap (after a full collection) at its highest during a run: what a run really
 * holds, without the garbage a plain sample also counts. Collects at most every
 * `intervalMs` (a full gc takes milliseconds), and whenever asked with `force` (e.g. while a
 * result is held, just before it is dropped).
 */
export class LiveHeapSampler {
  private peak = 0;
  private last = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly intervalMs = 50) {
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(force = false): void {
    const now = Date.now();
    if (!force && now - this.last < this.intervalMs) return;
    gcNow();
    this.last = Date.now();
    this.peak = Math.max(this.peak, process.memoryUsage().heapUsed);
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample(true);
    return this.peak;
  }
}
