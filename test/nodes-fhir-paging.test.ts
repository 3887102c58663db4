/**
 * cara-fhir paging modes over 1,050 resources in a real Node-RED runtime against the sandbox
 * vault: first page, all pages merged, one message per page, one per resource (msg.parts as a
 * split node sets them, rebuilt by a core join node), and the maxPages / maxResources bounds.
 */
import { strict as assert } from 'node:assert';
import { collect, helper, inject, type FlowNode } from './support/node-red';
import { loadFlowWithCore, startVaultPlatform, vaultConfig, type VaultPlatform } from './support/platform';

type Msg = Record<string, unknown>;
type Bundle = { resourceType: string; type?: string; total?: number; meta?: { tag?: Array<{ code?: string }> }; link?: Array<{ relation: string; url: string }>; entry?: Array<{ resource?: { id?: string } }> };
type Parts = { id: string; index: number; count?: number; type?: string };

const PARTITION = 'nodetest-paging';
const TOTAL = 1_050;
const PAGE = 100;
const PAGES = Math.ceil(TOTAL / PAGE);

describe('cara-fhir paging (real Node-RED, real vault, 1,050 resources)', function () {
  let platform: VaultPlatform;

  before(async function () {
    this.timeout(60_000);
    platform = await startVaultPlatform();
    const repo = platform.vault.repository(PARTITION);
    for (let i = 0; i < TOTAL; i += 1) {
      await repo.createResource({ resourceType: 'Observation', id: `obs-${String(i).padStart(4, '0')}`, status: 'final', code: { text: 'paging' } } as never);
    }
    await helper.startServer();
  });

  after(async function () {
    await helper.stopServer();
    await platform.stop();
  });

  afterEach(() => helper.unload());

  /** config -> search Observation (_count=100) -> 'out' (and -> join -> 'joined'); Catch -> 'caught'. */
  async function start(settings: Partial<FlowNode>) {
    const setup = vaultConfig(platform);
    const flow: FlowNode[] = [
      { id: 'f1', type: 'tab', label: 'test' },
      setup.node,
      {
        id: 'fhir',
        type: 'cara-fhir',
        z: 'f1',
        config: setup.node.id,
        interaction: 'search',
        resourceType: 'Observation',
        resourceTypeType: 'str',
        query: `_count=${PAGE}`,
        queryType: 'str',
        wires: [['out', 'joiner']],
        ...settings,
      },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'joiner', type: 'join', z: 'f1', mode: 'auto', build: 'array', property: 'payload', propertyType: 'msg', timeout: '', count: '', wires: [['joined']] },
      { id: 'joined', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', scope: ['fhir'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
      // done() of the cara-fhir node: the whole sequence has been sent.
      { id: 'on-complete', type: 'complete', z: 'f1', scope: ['fhir'], uncaught: false, wires: [['done']] },
      { id: 'done', type: 'helper', z: 'f1' },
    ];
    await loadFlowWithCore(flow, setup.credentials);
    platform.takeVaultRequests();
    const out = collect('out');
    const done = collect('done');
    /** Every message sent for the input, once the node has called done(). */
    const completed = async (): Promise<Msg[]> => {
      await done.next(15_000);
      return out.messages;
    };
    return { out, joined: collect('joined'), caught: collect('caught'), completed };
  }

  function ids(bundle: Bundle): string[] {
    return (bundle.entry ?? []).map((e) => e.resource?.id ?? '');
  }

  it("'first' returns the first page, its next link rebased on the configured base", async function () {
    const { out } = await start({ paging: 'first' });
    inject('fhir', { partition: PARTITION });
    const msg = await out.next();
    const bundle = msg.payload as Bundle;
    assert.equal(bundle.entry?.length, PAGE);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url ?? '';
    assert.ok(next.startsWith(`${platform.vault.base}/${PARTITION}`), next);
    assert.equal(msg.parts, undefined);
    assert.equal(platform.takeVaultRequests().length, 1);
  });

  it("'merge' returns every page in one Bundle", async function () {
    const { out } = await start({ paging: 'merge' });
    inject('fhir', { partition: PARTITION });
    const msg = await out.next(15_000);
    const bundle = msg.payload as Bundle;
    assert.equal(bundle.total, TOTAL);
    assert.equal(new Set(ids(bundle)).size, TOTAL, 'every resource exactly once');
    assert.equal(bundle.meta, undefined, 'not truncated');
    assert.equal(platform.takeVaultRequests().length, PAGES);
  });

  it("'merge' stops at maxResources and marks the Bundle truncated", async function () {
    const { out } = await start({ paging: 'merge', maxResources: 250 });
    inject('fhir', { partition: PARTITION });
    const bundle = (await out.next(15_000)).payload as Bundle;
    assert.equal(bundle.entry?.length, 250);
    assert.equal(bundle.meta?.tag?.[0]?.code, 'truncated');
    assert.equal(platform.takeVaultRequests().length, 3);
  });

  it("'pages' sends one message per page with msg.parts; a join node rebuilds the list", async function () {
    const { joined, completed } = await start({ paging: 'pages' });
    inject('fhir', { partition: PARTITION, topic: 'kept' });
    const messages = await completed();
    assert.equal(messages.length, PAGES);
    const parts = messages.map((m) => m.parts as Parts);
    assert.deepEqual(parts.map((p) => p.index), [...Array(PAGES).keys()]);
    assert.equal(new Set(parts.map((p) => p.id)).size, 1, 'one sequence id');
    assert.deepEqual(parts.map((p) => p.count), [...Array(PAGES - 1).fill(undefined), PAGES], 'count on the last message');
    assert.ok(messages.every((m) => m.topic === 'kept' && m.statusCode === 200));
    const all = messages.flatMap((m) => ids(m.payload as Bundle));
    assert.equal(new Set(all).size, TOTAL);
    const rebuilt = (await joined.next()).payload as Bundle[];
    assert.equal(rebuilt.length, PAGES);
  });

  it("'pages' stops at maxPages", async function () {
    const { completed } = await start({ paging: 'pages', maxPages: 3 });
    inject('fhir', { partition: PARTITION });
    const messages = await completed();
    assert.equal(messages.length, 3);
    assert.equal((messages[2].parts as Parts).count, 3);
    assert.equal(platform.takeVaultRequests().length, 3);
  });

  it("'resources' sends one message per resource; a join node rebuilds all 1,050", async function () {
    const { joined, completed } = await start({ paging: 'resources' });
    inject('fhir', { partition: PARTITION });
    const messages = await completed();
    const rebuilt = (await joined.next()).payload as Array<{ resourceType: string; id: string }>;
    assert.equal(rebuilt.length, TOTAL);
    assert.equal(new Set(rebuilt.map((r) => r.id)).size, TOTAL);
    assert.ok(rebuilt.every((r) => r.resourceType === 'Observation'));
    assert.equal(messages.length, TOTAL);
    assert.equal((messages[0].fhir as Record<string, string>).searchMode, 'match');
    assert.equal((messages[TOTAL - 1].parts as Parts).count, TOTAL);
    assert.equal((messages[TOTAL - 2].parts as Parts).count, undefined);
  });

  it("'resources' stops at maxResources", async function () {
    const { completed } = await start({ paging: 'resources', maxResources: 150 });
    inject('fhir', { partition: PARTITION });
    const messages = await completed();
    assert.equal(messages.length, 150);
    assert.equal((messages[149].parts as Parts).count, 150);
    assert.equal(platform.takeVaultRequests().length, 2);
  });

  for (const [paging, perPage] of [['pages', 1], ['resources', PAGE]] as const) {
    it(`'${paging}': a failure on page 3 closes the partial sequence (a join completes), then Catch gets the error`, async function () {
      const { out, joined, caught } = await start({ paging });
      // Page 3 is the second later page (offset 200); 500 is not retried, so exactly one fault is used.
      platform.vault.faults.queue({ kind: 'status', status: 500 }, 1, (r) => r.path.includes('_getpagesoffset=200'));
      try {
        inject('fhir', { partition: PARTITION });
        const error = await caught.next(15_000);
        const sent = 2 * perPage;
        const rebuilt = (await joined.next()).payload as unknown[];
        assert.equal(rebuilt.length, sent, 'the join node completed with the partial group');
        assert.equal(out.messages.length, sent);
        const parts = out.messages.map((m) => m.parts as Parts);
        assert.equal(parts[sent - 1].count, sent, 'the last message sent carries the count sent');
        assert.ok(parts.slice(0, -1).every((p) => p.count === undefined));
        assert.equal(error.statusCode, 500);
        const { code, message } = error.error as { code: string; message: string };
        assert.equal(code, 'CARA_HTTP');
        assert.match(message, new RegExp(`paging stopped part-way: the ${sent} message\\(s\\) sent`));
        assert.equal(platform.vault.faults.pendingCount, 0, 'the fault hit page 3');
      } finally {
        platform.vault.faults.clear();
      }
    });
  }

  it("'resources' with no result sends no message, and the node still completes (done)", async function () {
    const { out, joined, caught, completed } = await start({ paging: 'resources', query: 'code=nothing-matches' });
    inject('fhir', { partition: PARTITION });
    assert.deepEqual(await completed(), []);
    assert.deepEqual(joined.messages, []);
    assert.deepEqual(caught.messages, []);
    assert.equal(out.messages.length, 0);
  });

  it('nests the parts of an incoming sequence, as a split node does', async function () {
    const { completed } = await start({ paging: 'pages', maxPages: 2 });
    const outer = { id: 'outer', index: 4, count: 9 };
    inject('fhir', { partition: PARTITION, parts: outer });
    const messages = await completed();
    assert.equal(messages.length, 2);
    assert.deepEqual((messages[0].parts as Parts & { parts: unknown }).parts, outer);
  });
});
