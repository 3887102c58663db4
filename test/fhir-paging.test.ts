/**
 * Paging through the sandbox vault (HAPI-style `_getpages` links on an internal base) with
 * more than 1,000 resources: modes, bounds, rebasing, and refusal of unsafe next links.
 */
import { strict as assert } from 'node:assert';
import { FhirClient } from '../src/fhir/client';
import { TRUNCATED_TAG, type FhirBundle, type FhirRequest, type FhirResponse } from '../src/fhir/types';
import { startPeers, type Peers } from './support/cara-peers';
import { startScriptedServer, type ScriptedServer } from './support/fault-server';
import { rejection } from './support/assertions';

const P = 'paging-partition';
const OTHER = 'someone-else';
const TOTAL = 1_200;

async function collect(pages: AsyncGenerator<FhirResponse>): Promise<FhirBundle[]> {
  const result: FhirBundle[] = [];
  for await (const page of pages) result.push(page.body as FhirBundle);
  return result;
}

const ids = (bundles: FhirBundle[]): string[] =>
  bundles.flatMap((b) => (b.entry ?? []).map((e) => (e.resource as { id: string }).id));

describe('FHIR paging against the sandbox vault', function () {
  this.timeout(20_000);
  let peers: Peers;
  let fhir: FhirClient;
  let foreign: ScriptedServer;

  before(async () => {
    peers = await startPeers({}, [P, OTHER]);
    foreign = await startScriptedServer(peers.pki);
    fhir = new FhirClient({ http: peers.http, baseUrl: peers.vault.base });
    const repo = peers.vault.repository(P);
    for (let i = 0; i < TOTAL; i++) {
      await repo.createResource({ resourceType: 'Observation', status: 'final', code: { text: `obs ${i}` } } as never);
    }
  });
  after(async () => {
    await foreign?.stop();
    await peers?.stop();
  });
  beforeEach(() => {
    peers.vault.requests.length = 0;
    peers.vault.faults.clear();
    foreign.reset();
  });

  const search = (paging?: FhirRequest['paging'], count = 100): FhirRequest => ({
    interaction: 'search', partition: P, resourceType: 'Observation', query: { _count: count }, paging,
  });

  it('request() returns the first page, its next link rebased on the configured base', async () => {
    const first = await fhir.request(search({ mode: 'first' }));
    const bundle = first.body as FhirBundle;
    assert.equal(bundle.entry?.length, 100);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url ?? '';
    assert.ok(next.startsWith(`${peers.vault.base}/${P}?`), next);
    assert.match(next, /_getpages=/);
    assert.equal(peers.vault.requests.length, 1);
  });

  it('pages() follows every next link (rebased, same partition) and yields each page', async () => {
    const pages = await collect(fhir.pages(search({ mode: 'pages' })));
    assert.equal(pages.length, 12);
    const all = ids(pages);
    assert.equal(all.length, TOTAL);
    assert.equal(new Set(all).size, TOTAL);
    assert.equal(peers.vault.requests.length, 12);
    for (const r of peers.vault.requests.slice(1)) assert.match(r.path, new RegExp(`^/fhir/${P}\\?_getpages=`));
    assert.equal(pages[11].link?.find((l) => l.relation === 'next'), undefined);
  });

  it('merged() returns one searchset with every entry and total = entries', async () => {
    const merged = (await fhir.merged(search({ mode: 'merge', maxResources: 5_000 }, 250))).body as FhirBundle;
    assert.equal(merged.type, 'searchset');
    assert.equal(merged.total, TOTAL);
    assert.equal(merged.entry?.length, TOTAL);
    assert.equal(new Set(ids([merged])).size, TOTAL);
    assert.equal(merged.meta, undefined);
    assert.equal(merged.link?.find((l) => l.relation === 'next'), undefined);
    assert.equal(peers.vault.requests.length, 5);
  });

  it('maxPages stops the paging and marks the merged Bundle as truncated', async () => {
    const merged = (await fhir.merged(search({ mode: 'merge', maxPages: 3 }))).body as FhirBundle;
    assert.equal(merged.total, 300);
    assert.deepEqual((merged.meta as { tag: unknown[] }).tag, [{ ...TRUNCATED_TAG }]);
    const next = merged.link?.find((l) => l.relation === 'next')?.url ?? '';
    assert.ok(next.startsWith(`${peers.vault.base}/${P}?`), next);
    assert.equal(peers.vault.requests.length, 3);
  });

  it('maxResources cuts the last page and stops', async () => {
    const merged = (await fhir.merged(search({ mode: 'merge', maxResources: 250 }))).body as FhirBundle;
    assert.equal(merged.total, 250);
    assert.equal(merged.entry?.length, 250);
    assert.ok(merged.meta);
    assert.equal(peers.vault.requests.length, 3);

    peers.vault.requests.length = 0;
    const pages = await collect(fhir.pages(search({ mode: 'resources', maxResources: 200 })));
    assert.deepEqual(pages.map((p) => p.entry?.length), [100, 100]);
    assert.equal(peers.vault.requests.length, 2);
  });

  it('the default bounds stop a long paging (100 pages)', async () => {
    const pages = await collect(fhir.pages(search({ mode: 'pages' }, 10)));
    assert.equal(pages.length, 100);
    assert.equal(ids(pages).length, 1_000);
  });

  it('history pages merge into a history Bundle', async () => {
    const merged = (await fhir.merged({ interaction: 'history', partition: P, resourceType: 'Observation', query: { _count: 300 }, paging: { mode: 'merge' } })).body as FhirBundle;
    assert.equal(merged.type, 'history');
    assert.equal(merged.total, TOTAL);
  });

  it('refuses bad bounds with CARA_INPUT before sending', async () => {
    const err = await rejection(fhir.merged(search({ mode: 'merge', maxPages: 0 })));
    assert.equal(err.code, 'CARA_INPUT');
    assert.equal(err.property, 'paging.maxPages');
    assert.equal(peers.vault.requests.length, 0);
  });

  function pageWithNext(next: string): FhirBundle {
    return {
      resourceType: 'Bundle', type: 'searchset',
      link: [{ relation: 'self', url: `http://localhost:9051/fhir/${P}/Observation` }, { relation: 'next', url: next }],
      entry: [{ resource: { resourceType: 'Observation', id: 'x1' } }],
    };
  }

  it('refuses a next link into another partition: CARA_UNSAFE_LINK, no request', async () => {
    peers.vault.faults.queue({ kind: 'status', status: 200, body: pageWithNext(`http://localhost:9051/fhir/${OTHER}?_getpages=abc&_getpagesoffset=1`) }, 1);
    const seen: FhirBundle[] = [];
    const err = await rejection((async () => {
      for await (const page of fhir.pages(search({ mode: 'pages' }))) seen.push(page.body as FhirBundle);
    })());
    assert.equal(err.code, 'CARA_UNSAFE_LINK');
    assert.equal(seen.length, 1);
    assert.equal(peers.vault.requests.length, 1);

    peers.vault.faults.queue({ kind: 'status', status: 200, body: pageWithNext(`${peers.vault.base}/${OTHER}/Observation?_count=1`) }, 1);
    assert.equal((await rejection(fhir.merged(search({ mode: 'merge' })))).code, 'CARA_UNSAFE_LINK');
    assert.equal(peers.vault.requests.length, 2);
  });

  it('never sends the token to a foreign origin named in a next link', async () => {
    // unrecognisable: refused
    peers.vault.faults.queue({ kind: 'status', status: 200, body: pageWithNext(`${foreign.origin}/steal?x=1`) }, 1);
    assert.equal((await rejection(fhir.merged(search({ mode: 'merge' })))).code, 'CARA_UNSAFE_LINK');
    // recognisable (<host>/fhir/<partition>): rebased on OUR base, the foreign host gets nothing
    peers.vault.faults.queue({ kind: 'status', status: 200, body: pageWithNext(`${foreign.origin}/fhir/${P}/Observation?_count=2&_offset=0`) }, 1);
    const merged = (await fhir.merged(search({ mode: 'merge', maxPages: 2 }))).body as FhirBundle;
    assert.equal(merged.total, 3);
    assert.equal(foreign.requests.length, 0);
    assert.equal(peers.vault.requests.at(-1)?.path, `/fhir/${P}/Observation?_count=2&_offset=0`);
  });
});
