/**
 * Case 5: memory of a long feed through cara-fhir read: process RSS and heap after a full
 * collection, after 10,000 and after 100,000 messages (concurrency 16, a fresh deploy).
 * A leak per message shows as growth between the two; RSS also keeps what the allocator does
 * not hand back, so the heap after gc is the sharper of the two.
 */
import { PARTITION, PATIENT_ID } from '../support/fixtures';
import { caraConfig } from '../support/flows';
import { closedLoop } from '../support/load';
import { settledSnapshot, type MemorySnapshot } from '../support/memory';
import { benchFlow } from '../support/node-red';
import type { BenchContext, CaseReport } from '../support/report';
import { formatNumber, MB } from '../support/stats';

const CONCURRENCY = 16;

export async function memoryGrowth(ctx: BenchContext): Promise<CaseReport> {
  const t0 = Date.now();
  const first = ctx.quick ? 1_000 : 10_000;
  const total = ctx.quick ? 10_000 : 100_000;
  const config = caraConfig(ctx.peers, 'cfg-memory');
  await ctx.red.deploy(
    [
      config.node,
      ...benchFlow(
        [{ id: 'fhir-memory', type: 'cara-fhir', config: 'cfg-memory', interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str', resourceId: PATIENT_ID, resourceIdType: 'str', partition: 'partition', partitionType: 'msg', paging: 'first' }],
        [],
        { source: 'src-memory', sink: 'sink-memory' },
      ),
    ],
    config.credentials,
  );
  const op = async (): Promise<void> => {
    const msg = await ctx.red.send('src-memory', { partition: PARTITION });
    if (typeof msg.payload !== 'object') throw new Error('cara-fhir sent no resource');
  };

  const before = await settledSnapshot();
  const run1 = await closedLoop(op, { concurrency: CONCURRENCY, count: first });
  const atFirst = await settledSnapshot();
  ctx.log(`memory: ${first} messages at ${formatNumber(run1.perSecond)} msg/s; rss ${formatNumber(atFirst.rss / MB, 1)} MB, heap ${formatNumber(atFirst.heapUsed / MB, 1)} MB`);
  const run2 = await closedLoop(op, { concurrency: CONCURRENCY, count: total - first });
  const atTotal = await settledSnapshot();
  const errors = run1.errors + run2.errors;

  const rssGrowth = (atTotal.rss - atFirst.rss) / MB;
  const heapGrowth = (atTotal.heapUsed - atFirst.heapUsed) / MB;
  const row = (label: string, s: MemorySnapshot): string[] => [label, formatNumber(s.rss / MB, 1), formatNumber(s.heapUsed / MB, 1)];
  const notes = [
    `throughput while feeding: ${formatNumber(run1.perSecond)} msg/s (first ${formatNumber(first)}), ${formatNumber(run2.perSecond)} msg/s (the rest)`,
    `heap growth per message between ${formatNumber(first)} and ${formatNumber(total)}: ${formatNumber(((atTotal.heapUsed - atFirst.heapUsed) / (total - first)), 1)} bytes`,
  ];
  if (errors > 0) notes.push(`${errors} messages failed; first: ${run1.firstError ?? run2.firstError}`);
  return {
    id: 'memory',
    title: `5. Memory over a long cara-fhir read feed (after a full gc; concurrency ${CONCURRENCY}; single run)`,
    columns: ['after', 'RSS MB', 'heap used MB'],
    rows: [
      row('deploy (0 messages)', before),
      row(`${formatNumber(first)} messages`, atFirst),
      row(`${formatNumber(total)} messages`, atTotal),
      [`growth ${formatNumber(first)} -> ${formatNumber(total)}`, formatNumber(rssGrowth, 1), formatNumber(heapGrowth, 1)],
    ],
    targets: [{ name: `RSS growth from ${formatNumber(first)} to ${formatNumber(total)} messages`, target: '< 10 MB', measured: `${formatNumber(rssGrowth, 1)} MB (heap ${formatNumber(heapGrowth, 1)} MB)`, met: rssGrowth < 10 }],
    notes,
    data: { first, total, concurrency: CONCURRENCY, before, atFirst, atTotal, rssGrowthMB: rssGrowth, heapGrowthMB: heapGrowth, perSecond: [run1.perSecond, run2.perSecond], errors },
    elapsedMs: Date.now() - t0,
  };
}
