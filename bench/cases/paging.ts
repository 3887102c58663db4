/**
 * Case 4: paging. A search returning 10,000 Observations (~1 KB each) in pages of 100 whose
 * `next` links name HAPI's internal base (http://localhost:9051/fhir/<partition>?_getpages=...),
 * through cara-fhir in each paging mode, against raw undici fetching the same pages one after
 * the other (parse, rebase the link, drop the page).
 *
 * Each variant runs twice per repetition:
 * - timed: from sending the message to the last message at the sink, RSS sampled every 5 ms;
 * - memory (first repetition only: full collections are slow): the live heap (after a full gc,
 *   every 200 ms and while the result is held) above
 *   the level after a full gc just before the run. Plain heap samples mostly count garbage
 *   not yet collected (raw undici "peaks" at ~15 MB while holding one 120 KB page).
 * To show what grows with the result, merge and resources also run with a result ten times
 * smaller (maxResources): a merged result grows with it, one message per resource should not.
 */
import { request, type Agent } from 'undici';
import { INTERNAL_BASE, PARTITION } from '../support/fixtures';
import { caraConfig } from '../support/flows';
import { LiveHeapSampler, PeakSampler, settledSnapshot, snapshot } from '../support/memory';
import { benchFlow, firstMessage, wholeSequence, type Msg } from '../support/node-red';
import type { BenchContext, CaseReport, TargetResult } from '../support/report';
import { formatNumber, formatSummary, MB, summarize, type Summary } from '../support/stats';
import { performance } from 'node:perf_hooks';

type Mode = 'first' | 'merge' | 'pages' | 'resources';
const MODES: readonly Mode[] = ['first', 'merge', 'pages', 'resources'];
type Variant = 'raw' | Mode | 'merge-small' | 'resources-small';

interface Run {
  ms: number;
  /** Peak live heap above the settled level before the run (memory run). */
  heapMB: number;
  /** Peak RSS above the level before the run (timed run). */
  rssMB: number;
  resources: number;
}

/** Called as data arrives; `force` = measure now (the result is held), whatever the sampler's pace. */
type Sample = (force?: boolean) => void;

/** Raw undici over the same pages: one page in memory at a time. */
async function rawPages(agent: Agent, base: string, bearer: string, sample: Sample): Promise<number> {
  const headers = { authorization: `Bearer ${bearer}`, accept: 'application/fhir+json' };
  let url: string | undefined = `${base}/${PARTITION}/Observation?_count=100`;
  let resources = 0;
  while (url) {
    const res = await request(url, { dispatcher: agent, headers });
    const page = (await res.body.json()) as { entry?: unknown[]; link?: Array<{ relation: string; url: string }> };
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    sample();
    resources += page.entry?.length ?? 0;
    const next = page.link?.find((l) => l.relation === 'next')?.url;
    url = next?.startsWith(INTERNAL_BASE) ? `${base}${next.slice(INTERNAL_BASE.length)}` : undefined;
  }
  return resources;
}

export async function paging(ctx: BenchContext): Promise<CaseReport> {
  const t0 = Date.now();
  const repetitions = ctx.quick ? 2 : 3;
  const memoryRepetitions = 1;
  const total = 10_000;
  const small = total / 10;
  const notes: string[] = [];
  const config = caraConfig(ctx.peers, 'cfg-paging');
  const searchNode = (mode: Mode, maxResources: number, suffix = ''): ReturnType<typeof benchFlow> =>
    benchFlow(
      [{ id: `search-${mode}${suffix}`, type: 'cara-fhir', config: 'cfg-paging', interaction: 'search', resourceType: 'Observation', resourceTypeType: 'str', query: '_count=100', queryType: 'str', partition: 'partition', partitionType: 'msg', paging: mode, maxPages: '1000', maxResources: String(maxResources) }],
      [],
      { source: `src-${mode}${suffix}`, sink: `sink-${mode}${suffix}` },
    );
  await ctx.red.deploy(
    [config.node, ...MODES.flatMap((m) => searchNode(m, total)), ...searchNode('merge', small, '-small'), ...searchNode('resources', small, '-small')],
    config.credentials,
  );
  const agent = ctx.peers.agent();

  /** Runs one variant; resolves with the number of resources that reached the end. */
  const whole = async (source: string, sample: Sample): Promise<number> => {
    const msg = await ctx.red.send(source, { partition: PARTITION }, firstMessage);
    sample(true);
    return bundleSize(msg);
  };
  const variants: Record<Variant, (sample: Sample) => Promise<number>> = {
    raw: (sample) => rawPages(agent, ctx.peers.fhirBase, ctx.bearer, sample),
    first: (sample) => whole('src-first', sample),
    merge: (sample) => whole('src-merge', sample),
    'merge-small': (sample) => whole('src-merge-small', sample),
    pages: async (sample) => {
      let resources = 0;
      await ctx.red.send('src-pages', { partition: PARTITION }, wholeSequence((msg) => {
        resources += bundleSize(msg);
        sample();
      }));
      return resources;
    },
    resources: (sample) => perResource(ctx, 'src-resources', sample),
    'resources-small': (sample) => perResource(ctx, 'src-resources-small', sample),
  };
  const order: Variant[] = ['raw', 'first', 'merge', 'pages', 'resources', 'merge-small', 'resources-small'];
  const runs: Record<Variant, Run[]> = { raw: [], first: [], merge: [], pages: [], resources: [], 'merge-small': [], 'resources-small': [] };

  // warm-up: token, connections, JIT
  await variants.raw(() => undefined);
  await variants.pages(() => undefined);
  const attempt = async (variant: Variant, rep: number, sample: Sample): Promise<number> => {
    try {
      return await variants[variant](sample);
    } catch (err) {
      notes.push(`${variant} run ${rep + 1} failed: ${err instanceof Error ? err.message : String(err)}`);
      return 0;
    }
  };
  for (let rep = 0; rep < repetitions; rep += 1) {
    for (const variant of order) {
      const base = snapshot();
      const rss = new PeakSampler(5);
      const start = performance.now();
      const resources = await attempt(variant, rep, () => rss.sample());
      const ms = performance.now() - start;
      const rssPeak = rss.stop().rss;

      // the live heap needs full collections (slow): measured in the first repetition only
      let heapMB = Number.NaN;
      if (rep < memoryRepetitions) {
        const settled = await settledSnapshot();
        const live = new LiveHeapSampler(200);
        await attempt(variant, rep, (force) => live.sample(force));
        heapMB = (live.stop() - settled.heapUsed) / MB;
      }
      runs[variant].push({ ms, heapMB, rssMB: (rssPeak - base.rss) / MB, resources });
    }
  }
  await agent.close();

  const summary = (variant: Variant, key: 'ms' | 'heapMB' | 'rssMB'): Summary =>
    summarize(runs[variant].map((r) => r[key]).filter((v) => !Number.isNaN(v)));
  const rawMs = summary('raw', 'ms');
  const label: Record<Variant, string> = {
    raw: 'raw undici, page by page',
    first: 'cara-fhir first',
    merge: 'cara-fhir merge',
    pages: 'cara-fhir pages (1 msg/page)',
    resources: 'cara-fhir resources (1 msg/resource)',
    'merge-small': `cara-fhir merge, maxResources ${formatNumber(small)}`,
    'resources-small': `cara-fhir resources, maxResources ${formatNumber(small)}`,
  };
  const rows = order.map((variant) => {
    const counts = [...new Set(runs[variant].map((r) => r.resources))].map((n) => formatNumber(n)).join('/');
    return [
      label[variant],
      counts,
      formatSummary(summary(variant, 'ms')),
      variant === 'raw' ? '1.00' : formatNumber(summary(variant, 'ms').median / rawMs.median, 2),
      formatSummary(summary(variant, 'heapMB'), 1),
      formatSummary(summary(variant, 'rssMB'), 1),
    ];
  });

  const heap = (v: Variant): number => summary(v, 'heapMB').median;
  const mergeGrowth = heap('merge') / Math.max(0.1, heap('merge-small'));
  const resourcesGrowth = heap('resources') / Math.max(0.1, heap('resources-small'));
  const resultMB = ctx.peers.searchBytes / MB;
  const expected: Record<Variant, number> = { raw: total, first: 100, merge: total, pages: total, resources: total, 'merge-small': small, 'resources-small': small };
  const wrongCounts = order.filter((v) => runs[v].some((r) => r.resources !== expected[v]));
  const targets: TargetResult[] = [
    {
      name: `merged paging memory proportional to the result (peak live heap, ${formatNumber(total)} vs ${formatNumber(small)} resources)`,
      target: 'grows with the result (~10x)',
      measured: `${formatNumber(heap('merge'), 1)} MB vs ${formatNumber(heap('merge-small'), 1)} MB (x${formatNumber(mergeGrowth, 1)}); result ${formatNumber(resultMB, 1)} MB of JSON`,
      met: mergeGrowth >= 4 && heap('merge') < resultMB * 10,
    },
    {
      name: 'per-resource paging memory flat (peak live heap, 10x the resources)',
      target: 'flat (< 2x, near raw)',
      measured: `${formatNumber(heap('resources'), 1)} MB vs ${formatNumber(heap('resources-small'), 1)} MB (x${formatNumber(resourcesGrowth, 1)}); raw ${formatNumber(heap('raw'), 1)} MB`,
      met: resourcesGrowth < 2,
    },
  ];
  if (wrongCounts.length > 0) notes.push(`unexpected resource counts for: ${wrongCounts.join(', ')}`);
  notes.push(
    `${formatNumber(total)} resources in pages of 100 = ${formatNumber(resultMB, 1)} MB of JSON; time from the message sent to the last message at the sink`,
    `peak live heap = highest heap after a full gc (every 200 ms, and while the result is held) above the level before the run, ${memoryRepetitions} run; peak RSS from the timed runs (5 ms samples)`,
  );
  return {
    id: 'paging',
    title: `4. Paging: ${formatNumber(total)} resources in pages of 100 (median ±half-IQR of ${repetitions} timed runs)`,
    columns: ['mode', 'resources', 'time ms', 'x raw', 'peak live heap +MB', 'peak RSS +MB'],
    rows,
    targets,
    notes,
    data: { total, pageSize: 100, resultBytes: ctx.peers.searchBytes, repetitions, runs },
    elapsedMs: Date.now() - t0,
  };
}

function bundleSize(msg: Msg): number {
  const entry = (msg.payload as { entry?: unknown[] } | undefined)?.entry;
  return Array.isArray(entry) ? entry.length : 0;
}

async function perResource(ctx: BenchContext, source: string, sample: () => void): Promise<number> {
  let resources = 0;
  await ctx.red.send(source, { partition: PARTITION }, wholeSequence(() => {
    resources += 1;
    if (resources % 100 === 0) sample();
  }));
  return resources;
}
