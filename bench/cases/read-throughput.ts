/**
 * Case 1: read throughput (messages/s) over mTLS on loopback at concurrency 1, 16 and 64.
 *
 *   a  raw undici.request, one keep-alive mTLS Agent, fixed bearer token: the stack's limit
 *   b  cara-fhir read in Node-RED
 *   c  what users build today: change node (bearer header) -> core http request + tls-config
 *
 * The three run interleaved, repetition by repetition (the order rotating), so that the load
 * of the machine at a given moment weighs on all three alike; ratios are taken per repetition.
 */
import { request, type Agent } from 'undici';
import { PARTITION, PATIENT_ID } from '../support/fixtures';
import { caraConfig, mergeCredentials, tlsConfig } from '../support/flows';
import { closedLoop, type Operation } from '../support/load';
import { benchFlow } from '../support/node-red';
import { measureConnectionCost } from '../support/connections';
import { profileWhile } from '../support/profile';
import type { BenchContext, CaseReport, TargetResult } from '../support/report';
import { formatNumber, formatSummary, ratios, summarize, type Summary } from '../support/stats';

export const CONCURRENCIES = [1, 16, 64] as const;
type Variant = 'a' | 'b' | 'c';
const VARIANTS: readonly Variant[] = ['a', 'b', 'c'];

/** The deployed read flows: b (cara-fhir) and c (change + http request), side by side. */
export async function deployReadFlows(ctx: BenchContext): Promise<void> {
  const { peers } = ctx;
  const config = caraConfig(peers, 'cfg-read');
  const tls = tlsConfig(peers, 'tls-read');
  const flow = [
    config.node,
    tls.node,
    ...benchFlow(
      [{ id: 'fhir-read', type: 'cara-fhir', config: 'cfg-read', interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str', resourceId: PATIENT_ID, resourceIdType: 'str', partition: 'partition', partitionType: 'msg', paging: 'first' }],
      [],
      { source: 'src-b', sink: 'sink-b' },
    ),
    ...benchFlow(
      [
        { id: 'set-bearer', type: 'change', rules: [{ t: 'set', p: 'headers.Authorization', pt: 'msg', to: `Bearer ${ctx.bearer}`, tot: 'str' }], action: '', property: '', from: '', to: '', reg: false },
        {
          id: 'http-read',
          type: 'http request',
          method: 'GET',
          ret: 'obj',
          paytoqs: 'ignore',
          url: `${peers.fhirBase}/${PARTITION}/Patient/${PATIENT_ID}`,
          tls: 'tls-read',
          persist: true,
          proxy: '',
          insecureHTTPParser: false,
          authType: '',
          senderr: false,
          headers: [],
        },
      ],
      [],
      { source: 'src-c', sink: 'sink-c' },
    ),
  ];
  await ctx.red.deploy(flow, mergeCredentials(config, tls));
}

export function readOperations(ctx: BenchContext, agent: Agent): Record<Variant, Operation> {
  const url = `${ctx.peers.fhirBase}/${PARTITION}/Patient/${PATIENT_ID}`;
  const headers = { authorization: `Bearer ${ctx.bearer}`, accept: 'application/fhir+json' };
  return {
    a: async () => {
      const res = await request(url, { dispatcher: agent, headers });
      const body: unknown = await res.body.json();
      if (res.statusCode !== 200 || typeof body !== 'object') throw new Error(`HTTP ${res.statusCode}`);
    },
    b: async () => {
      const msg = await ctx.red.send('src-b', { partition: PARTITION });
      if (typeof msg.payload !== 'object') throw new Error('cara-fhir sent no resource');
    },
    c: async () => {
      const msg = await ctx.red.send('src-c', {});
      if (typeof msg.payload !== 'object') throw new Error('http request sent no parsed resource');
    },
  };
}

interface ConcurrencyResult {
  perSecond: Record<Variant, Summary>;
  connectionsPer1000: Record<Variant, number>;
  ba: Summary;
  bc: Summary;
  errors: Record<Variant, number>;
}

export async function readThroughput(ctx: BenchContext): Promise<CaseReport> {
  const t0 = Date.now();
  const repetitions = ctx.quick ? 3 : 5;
  const windowMs = ctx.quick ? 150 : 400;
  const warmupMs = ctx.quick ? 100 : 500;
  await deployReadFlows(ctx);
  const agent = ctx.peers.agent();
  const ops = readOperations(ctx, agent);
  const results: Record<number, ConcurrencyResult> = {};
  const notes: string[] = [];

  for (const concurrency of CONCURRENCIES) {
    const samples: Record<Variant, number[]> = { a: [], b: [], c: [] };
    const errors: Record<Variant, number> = { a: 0, b: 0, c: 0 };
    const requests: Record<Variant, number> = { a: 0, b: 0, c: 0 };
    const connections: Record<Variant, number> = { a: 0, b: 0, c: 0 };
    // warm-up: open the connections this concurrency needs (a few rounds), then run a while
    for (const variant of VARIANTS) {
      await closedLoop(ops[variant], { concurrency, count: 2 * concurrency });
      await closedLoop(ops[variant], { concurrency, durationMs: warmupMs });
    }
    for (let rep = 0; rep < repetitions; rep += 1) {
      // rotate the order so that no variant always runs first (or right after another)
      const order = VARIANTS.map((_, i) => VARIANTS[(i + rep) % VARIANTS.length]);
      for (const variant of order) {
        await ctx.peers.reset();
        const run = await closedLoop(ops[variant], { concurrency, durationMs: windowMs, minCompleted: concurrency });
        const counters = await ctx.peers.counters();
        samples[variant].push(run.perSecond);
        errors[variant] += run.errors;
        requests[variant] += counters.fhirRequests;
        connections[variant] += counters.fhirConnections;
        if (run.firstError) notes.push(`${variant} at concurrency ${concurrency}: ${run.errors} errors, first: ${run.firstError}`);
      }
    }
    const perSecond = { a: summarize(samples.a), b: summarize(samples.b), c: summarize(samples.c) };
    const per1000 = (v: Variant): number => (requests[v] === 0 ? 0 : (connections[v] / requests[v]) * 1000);
    results[concurrency] = {
      perSecond,
      connectionsPer1000: { a: per1000('a'), b: per1000('b'), c: per1000('c') },
      ba: ratios(samples.b, samples.a),
      bc: ratios(samples.b, samples.c),
      errors,
    };
    ctx.log(`read c=${concurrency}: a ${formatSummary(perSecond.a)}  b ${formatSummary(perSecond.b)}  c ${formatSummary(perSecond.c)} msg/s`);
  }

  if (ctx.profile) {
    const file = await profileWhile(ctx.resultsDir, 'read-c16', () => closedLoop(ops.b, { concurrency: 16, durationMs: ctx.quick ? 500 : 2_000 }));
    notes.push(`CPU profile of cara-fhir read at concurrency 16: ${file.path}`, ...file.top.map((line) => `  ${line}`));
  }
  await agent.close();

  const cost = await measureConnectionCost(ctx.peers, ctx.bearer, ctx.quick ? 3 : 5);
  notes.push(
    `a new mTLS connection (first request on an Agent whose context is built): raw ${formatSummary(cost.firstRequestMs.raw, 1, ' ms')}, library's Agent ${formatSummary(cost.firstRequestMs.cara, 1, ' ms')}; ` +
      `building a TLS context, synchronously, on the event loop: raw ${formatSummary(cost.secureContextMs.raw, 1, ' ms')} (${cost.caCount.raw} CA), ` +
      `library ${formatSummary(cost.secureContextMs.cara, 1, ' ms')} (${cost.caCount.cara} CAs: the system roots + the extra CA; built once per cara-config, when its Agent is created)`,
  );

  const rows = CONCURRENCIES.map((c) => {
    const r = results[c];
    return [
      String(c),
      formatSummary(r.perSecond.a),
      formatSummary(r.perSecond.b),
      formatSummary(r.perSecond.c),
      formatSummary(r.ba, 2),
      formatSummary(r.bc, 2),
      `${formatNumber(r.connectionsPer1000.a, 1)} / ${formatNumber(r.connectionsPer1000.b, 1)} / ${formatNumber(r.connectionsPer1000.c, 1)}`,
    ];
  });
  const at16 = results[16];
  const targets: TargetResult[] = [
    { name: 'b/a at concurrency 16', target: '>= 0.8', measured: formatSummary(at16.ba, 3), met: at16.ba.median >= 0.8 },
    ...CONCURRENCIES.map((c) => ({
      name: `b/c at concurrency ${c}`,
      target: '>= 2',
      measured: formatSummary(results[c].bc, 2),
      met: results[c].bc.median >= 2,
    })),
  ];
  return {
    id: 'read',
    title: `1. Read throughput, 1 KB Patient over mTLS (msg/s, median ±half-IQR of ${repetitions} windows of ${windowMs} ms)`,
    columns: ['concurrency', 'a raw undici', 'b cara-fhir', 'c change+http request', 'b/a', 'b/c', 'TLS conns per 1k req a/b/c'],
    rows,
    targets,
    notes,
    data: { repetitions, windowMs, warmupMs, results, connectionCost: cost },
    elapsedMs: Date.now() - t0,
  };
}
