/** Medians, percentiles and spreads of repeated measurements. */

/** A repeated measurement: the median and the spread of its samples. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Relative spread: half the interquartile range over the median ((p75 - p25) / 2 / median). */
  spread: number;
  samples: number[];
}

/** The p-th percentile (0..100) by linear interpolation between closest ranks. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function summarize(samples: readonly number[]): Summary {
  const m = median(samples);
  const min = Math.min(...samples);
  const max = Math.max(...samples);
  const halfIqr = (percentile(samples, 75) - percentile(samples, 25)) / 2;
  return { median: m, min, max, spread: m === 0 ? 0 : halfIqr / Math.abs(m), samples: [...samples] };
}

/** Per-repetition ratios a[i]/b[i]: interleaved runs share the machine's load, so their ratio is steadier than a ratio of medians. */
export function ratios(numerators: readonly number[], denominators: readonly number[]): Summary {
  const n = Math.min(numerators.length, denominators.length);
  return summarize(Array.from({ length: n }, (_, i) => numerators[i] / denominators[i]));
}

/** "1234 ±5%" style text for a table cell (± half the interquartile range, relative). */
export function formatSummary(s: Summary, digits = 0, unit = ''): string {
  return `${formatNumber(s.median, digits)}${unit} ±${Math.round(s.spread * 100)}%`;
}

export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const MB = 1024 * 1024;
