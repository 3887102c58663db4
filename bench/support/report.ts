/** What every case gets, what it hands back, and how that is printed. */
import type { BenchRuntime } from './node-red';
import type { Peers } from './peers';

export interface BenchContext {
  /** --quick: counts and windows cut about 10x, for checking the harness. */
  quick: boolean;
  peers: Peers;
  red: BenchRuntime;
  /** A real access token for the baselines' fixed bearer header (never printed). */
  bearer: string;
  /** --profile: CPU-profile the cara-fhir read path (written under bench/results/). */
  profile: boolean;
  resultsDir: string;
  log(text: string): void;
}

export interface TargetResult {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface CaseReport {
  id: string;
  title: string;
  columns: string[];
  rows: string[][];
  targets: TargetResult[];
  /** What limits the figures, caveats, evidence. */
  notes: string[];
  /** Every raw figure (samples included), for the JSON file. */
  data: Record<string, unknown>;
  elapsedMs?: number;
}

export type BenchCase = (ctx: BenchContext) => Promise<CaseReport>;

function pad(text: string, width: number, right: boolean): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

/** A plain-text table: first column left-aligned, the others right-aligned. */
export function formatTable(columns: string[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => pad(cell ?? '', widths[i], i > 0)).join('  ').trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatCase(report: CaseReport): string {
  const parts = [`\n## ${report.title}`, '', formatTable(report.columns, report.rows)];
  if (report.targets.length > 0) {
    parts.push('');
    for (const t of report.targets) parts.push(`${t.met ? 'MET ' : 'MISS'}  ${t.name}: ${t.measured} (target ${t.target})`);
  }
  if (report.notes.length > 0) {
    parts.push('');
    for (const note of report.notes) parts.push(`- ${note}`);
  }
  return parts.join('\n');
}
