/**
 * Case 3: account resolution. A feed of 10,000 messages over 100 distinct MPI-IDs (round
 * robin, 16 in flight) through cara-resolve-account, with its cache (TTL 300 s) and without
 * (TTL 0: ask AIM for every message). Counted: the requests AIM received, and throughput.
 * Each repetition starts from a fresh deploy (empty cache, no token, no connection).
 */
import { caraConfig, mergeCredentials } from '../support/flows';
import { closedLoop } from '../support/load';
import { profileWhile } from '../support/profile';
import { benchFlow } from '../support/node-red';
import type { BenchContext, CaseReport, TargetResult } from '../support/report';
import { formatNumber, formatSummary, ratios, summarize } from '../support/stats';

const CONCURRENCY = 16;
type Mode = 'cached' | 'uncached';
const MODES: readonly Mode[] = ['cached', 'uncached'];

export async function accountResolution(ctx: BenchContext): Promise<CaseReport> {
  const t0 = Date.now();
  const messages = ctx.quick ? 1_000 : 10_000;
  const repetitions = 2;
  const mpiIds = ctx.peers.mpiIds;
  const notes: string[] = [];
  const perSecond: Record<Mode, number[]> = { cached: [], uncached: [] };
  const aimRequests: Record<Mode, number[]> = { cached: [], uncached: [] };

  for (let rep = 0; rep < repetitions; rep += 1) {
    // one config per mode: each has its own AimClient (and cache)
    const configs = { cached: caraConfig(ctx.peers, `cfg-acc-cached-${rep}`), uncached: caraConfig(ctx.peers, `cfg-acc-uncached-${rep}`) };
    await ctx.red.deploy(
      [
        configs.cached.node,
        configs.uncached.node,
        ...MODES.flatMap((mode) =>
          benchFlow(
            [{ id: `resolve-${mode}`, type: 'cara-resolve-account', config: configs[mode].node.id, mpiId: 'payload', mpiIdType: 'msg', cacheTtl: mode === 'cached' ? '300' : '0', unknownPatient: 'error' }],
            [],
            { source: `src-${mode}`, sink: `sink-${mode}` },
          ),
        ),
      ],
      mergeCredentials(configs.cached, configs.uncached),
    );
    for (const mode of rep % 2 === 0 ? MODES : [...MODES].reverse()) {
      let next = 0;
      const op = async (): Promise<void> => {
        const mpiId = mpiIds[next % mpiIds.length];
        next += 1;
        const msg = await ctx.red.send(`src-${mode}`, { payload: mpiId });
        if (typeof msg.partition !== 'string') throw new Error('cara-resolve-account set no partition');
      };
      await ctx.peers.reset();
      const feed = () => closedLoop(op, { concurrency: CONCURRENCY, count: messages });
      let run: Awaited<ReturnType<typeof feed>> | undefined;
      if (ctx.profile && mode === 'cached' && rep === repetitions - 1) {
        const profile = await profileWhile(ctx.resultsDir, 'account-cached', async () => (run = await feed()));
        notes.push(`CPU profile of the cached feed: ${profile.path}`, ...profile.top.map((line) => `  ${line}`));
      }
      run ??= await feed();
      const counters = await ctx.peers.counters();
      perSecond[mode].push(run.perSecond);
      aimRequests[mode].push(counters.aimRequests);
      if (run.firstError) notes.push(`${mode} run ${rep + 1}: ${run.errors} errors, first: ${run.firstError}`);
    }
    ctx.log(`accounts rep ${rep + 1}: cached ${formatNumber(perSecond.cached[rep])} msg/s (${aimRequests.cached[rep]} AIM requests), uncached ${formatNumber(perSecond.uncached[rep])} msg/s (${aimRequests.uncached[rep]} AIM requests)`);
  }

  const speedup = ratios(perSecond.cached, perSecond.uncached);
  const rows = MODES.map((mode) => [
    mode === 'cached' ? 'with cache (TTL 300 s)' : 'without cache (TTL 0)',
    aimRequests[mode].join(' / '),
    formatSummary(summarize(perSecond[mode])),
  ]);
  rows.push(['cache speed-up (cached / uncached)', '', formatSummary(speedup, 1)]);
  const distinct = mpiIds.length;
  const targets: TargetResult[] = [
    {
      name: `AIM requests with the cache (${distinct} distinct MPI-IDs)`,
      target: `${distinct}`,
      measured: aimRequests.cached.join(', '),
      met: aimRequests.cached.every((n) => n === distinct),
    },
    {
      name: 'AIM requests without the cache',
      target: `${messages} (one per message)`,
      measured: aimRequests.uncached.join(', '),
      met: aimRequests.uncached.every((n) => n === messages),
    },
  ];
  notes.push(`${formatNumber(messages)} messages per run, ${CONCURRENCY} in flight, MPI-IDs round robin; AIM is the sandbox AIM (verifies each bearer token's RS256 signature) in the peers process`);
  return {
    id: 'account',
    title: `3. Account resolution: ${formatNumber(messages)} messages over ${distinct} MPI-IDs (median ±half-IQR of ${repetitions} runs)`,
    columns: ['cara-resolve-account', 'AIM requests per run', 'msg/s'],
    rows,
    targets,
    notes,
    data: { messages, distinct, concurrency: CONCURRENCY, repetitions, perSecond, aimRequests, speedup },
    elapsedMs: Date.now() - t0,
  };
}
