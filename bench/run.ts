/**
 * `npm run bench`: the hot paths of node-red-contrib-cara, each against a baseline measured in
 * the same run, on this machine, with no network: the peers (IAMs and AIM in one child process,
 * a minimal FHIR server in another, all over mTLS), Node-RED with the built nodes in this one.
 *
 *   tsx bench/run.ts [--quick] [--profile] [--only=read,memory,token,account,paging] [--out=FILE]
 *
 * --quick cuts counts and windows about 10x (a harness check, not a measurement).
 * Prints one table per case and writes bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { accountResolution } from './cases/account';
import { memoryGrowth } from './cases/memory';
import { paging } from './cases/paging';
import { readThroughput } from './cases/read-throughput';
import { tokenUnderLoad } from './cases/token';
import { startNodeRed } from './support/node-red';
import { startPeers } from './support/peers';
import { formatCase, type BenchCase, type CaseReport } from './support/report';

const CASES: Record<string, BenchCase> = {
  read: readThroughput,
  memory: memoryGrowth,
  token: tokenUnderLoad,
  account: accountResolution,
  paging,
};
/** Run order: memory right after read, before the cases that leave big heaps behind (paging). */
const ORDER = ['read', 'memory', 'token', 'account', 'paging'];
/** The JSON and the table list the cases by their number in the issue. */
const NUMBER: Record<string, number> = { read: 1, token: 2, account: 3, paging: 4, memory: 5 };

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const profile = process.argv.includes('--profile');
  const only = option('only')?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((name) => !(name in CASES)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${ORDER.join(', ')}`);
  const selected = ORDER.filter((name) => !only || only.includes(name));
  const resultsDir = resolve(__dirname, 'results');
  const out = resolve(option('out') ?? join(resultsDir, 'latest.json'));
  const t0 = Date.now();
  const loadBefore = loadavg();
  const log = (text: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${text}`);

  log(`starting peers and Node-RED${quick ? ' (quick mode: counts cut 10x, not a measurement)' : ''}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
  const [peers, red] = await Promise.all([
    startPeers({ shortTokenTtlSeconds: quick ? 2 : 10, patients: 100, searchTotal: 10_000, pageSize: 100 }),
    startNodeRed(),
  ]);
  const reports: CaseReport[] = [];
  try {
    const bearer = await peers.fetchToken();
    const ctx = { quick, peers, red, bearer, profile, resultsDir, log };
    for (const name of selected) {
      log(`case ${name}`);
      const report = await CASES[name](ctx);
      reports.push(report);
      log(`case ${name} done in ${((report.elapsedMs ?? 0) / 1000).toFixed(1)} s; process RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
    }
  } finally {
    await Promise.allSettled([red.stop(), peers.stop()]);
  }

  reports.sort((a, b) => NUMBER[a.id] - NUMBER[b.id]);
  const loadAfter = loadavg();
  const header = [
    `# node-red-contrib-cara benchmark${quick ? ' (QUICK: harness check only)' : ''}`,
    `Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load average before ${loadBefore[0].toFixed(2)}, after ${loadAfter[0].toFixed(2)}; ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  ];
  console.log(`\n${header.join('\n')}`);
  for (const report of reports) console.log(formatCase(report));

  const missed = reports.flatMap((r) => r.targets.filter((t) => !t.met).map((t) => `${r.id}: ${t.name}`));
  console.log(`\n${reports.reduce((n, r) => n + r.targets.length, 0) - missed.length} targets met, ${missed.length} missed${missed.length ? `: ${missed.join('; ')}` : ''}`);

  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        quick,
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadAfter,
        durationMs: Date.now() - t0,
        cases: Object.fromEntries(reports.map((r) => [r.id, { title: r.title, columns: r.columns, rows: r.rows, targets: r.targets, notes: r.notes, elapsedMs: r.elapsedMs, data: r.data }])),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results written to ${out}`);
}

main().then(
  // Node-RED leaves timers behind (context flushing, ...): do not wait for them.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
