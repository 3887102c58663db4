/**
 * FhirClient against the sandbox FHIR Vault (Medplum engine, HAPI-style partitions and links)
 * with real tokens from the sandbox IAM over mTLS.
 */
import { strict as assert } from 'node:assert';
import { CaraError } from '../src/errors';
import { FhirClient } from '../src/fhir/client';
import type { FhirRequest } from '../src/fhir/types';
import { createCaraClient } from '../src/client';
import { CLIENT_CN, CLIENT_ID, SCOPES, startPeers, type Peers } from './support/cara-peers';
import { rejection } from './support/assertions';

const P = 'client-test-partition';
const OTHER = 'other-partition';

/** Polls until `condition()` holds (at most `timeoutMs`). */
async function eventually(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Resource {
  resourceType: string;
  id?: string;
  status?: string;
  meta?: { versionId?: string };
  [key: string]: unknown;
}

const observation = (code: string): Resource => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code }] },
  valueQuantity: { value: 72, unit: 'beats/minute' },
});

describe('FhirClient against the sandbox vault', function () {
  this.timeout(20_000);
  let peers: Peers;
  let fhir: FhirClient;

  before(async () => {
    peers = await startPeers({}, [P, OTHER]);
    fhir = new FhirClient({ http: peers.http, baseUrl: peers.vault.base });
  });
  after(async () => peers?.stop());
  beforeEach(() => {
    peers.vault.requests.length = 0;
    peers.vault.faults.clear();
    peers.sleeps.length = 0;
  });

  const req = (r: Partial<FhirRequest>): FhirRequest => ({ partition: P, interaction: 'read', ...r }) as FhirRequest;

  it('create -> read -> vread -> update (If-Match) -> patch -> history -> delete', async () => {
    const created = await fhir.request(req({ interaction: 'create', body: observation('8867-4'), preferReturn: 'representation' }));
    assert.equal(created.statusCode, 201);
    const id = (created.body as Resource).id as string;
    assert.ok(id);
    // Location was built on the vault's internal base and is rebased on ours
    assert.equal(created.headers.location, `${peers.vault.base}/${P}/Observation/${id}/_history/1`);
    assert.equal(created.headers.etag, 'W/"1"');
    const sent = peers.vault.requests[0];
    assert.equal(sent.path, `/fhir/${P}/Observation`);
    assert.equal(sent.headers['content-type'], 'application/fhir+json');
    assert.equal(sent.headers.accept, 'application/fhir+json');
    assert.equal(sent.headers.prefer, 'return=representation');

    const read = await fhir.request(req({ resourceType: 'Observation', id }));
    assert.equal(read.statusCode, 200);
    assert.equal((read.body as Resource).status, 'final');
    assert.ok(read.headers.lastModified);

    const updated = await fhir.request(req({ interaction: 'update', id, body: { ...(read.body as Resource), status: 'amended' }, ifMatch: read.headers.etag }));
    assert.equal(updated.statusCode, 200);
    assert.equal((updated.body as Resource).meta?.versionId, '2');

    const stale = await rejection(fhir.request(req({ interaction: 'update', id, body: { ...(read.body as Resource), status: 'cancelled' }, ifMatch: 'W/"1"' })));
    assert.equal(stale.code, 'CARA_HTTP');
    assert.ok(stale.statusCode === 409 || stale.statusCode === 412, String(stale.statusCode));
    assert.equal((stale.outcome as Resource).resourceType, 'OperationOutcome');

    const patched = await fhir.request(req({ interaction: 'patch', resourceType: 'Observation', id, body: [{ op: 'replace', path: '/status', value: 'corrected' }] }));
    assert.equal((patched.body as Resource).status, 'corrected');
    assert.equal(peers.vault.requests.at(-1)?.headers['content-type'], 'application/json-patch+json');

    const v1 = await fhir.request(req({ interaction: 'vread', resourceType: 'Observation', id, versionId: '1' }));
    assert.equal((v1.body as Resource).status, 'final');

    const history = await fhir.request(req({ interaction: 'history', resourceType: 'Observation', id }));
    assert.equal((history.body as { type: string }).type, 'history');
    assert.equal((history.body as { entry: unknown[] }).entry.length, 3);

    const deleted = await fhir.request(req({ interaction: 'delete', resourceType: 'Observation', id }));
    assert.ok(deleted.statusCode >= 200 && deleted.statusCode < 300);
    const gone = await rejection(fhir.request(req({ resourceType: 'Observation', id })));
    assert.equal(gone.code, 'CARA_HTTP');
    assert.ok(gone.statusCode === 404 || gone.statusCode === 410);
  });

  it('search (GET and POST _search) returns the first page with links rebased', async () => {
    const repo = peers.vault.repository(P);
    for (let i = 0; i < 30; i++) await repo.createResource({ ...observation('search-code'), id: undefined } as never);
    const page = await fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { code: 'http://loinc.org|search-code', _count: 10 } }));
    const bundle = page.body as { type: string; entry: unknown[]; link: Array<{ relation: string; url: string }> };
    assert.equal(bundle.type, 'searchset');
    assert.equal(bundle.entry.length, 10);
    const next = bundle.link.find((l) => l.relation === 'next')?.url ?? '';
    assert.ok(next.startsWith(`${peers.vault.base}/${P}`), next);
    assert.equal(peers.vault.requests[0].path, `/fhir/${P}/Observation?code=http%3A%2F%2Floinc.org%7Csearch-code&_count=10`);

    const viaPost = await fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { code: 'http://loinc.org|search-code', _count: 5 }, searchVia: 'POST' }));
    assert.equal((viaPost.body as { entry: unknown[] }).entry.length, 5);
    const post = peers.vault.requests.at(-1);
    assert.equal(post?.method, 'POST');
    assert.equal(post?.path, `/fhir/${P}/Observation/_search`);
    assert.equal(post?.headers['content-type'], 'application/x-www-form-urlencoded');
  });

  it('conditional create (If-None-Exist), conditional update and conditional delete', async () => {
    const identified = { ...observation('cond'), identifier: [{ system: 'urn:oid:1.2.3', value: 'cond-1' }] };
    const first = await fhir.request(req({ interaction: 'create', body: identified, ifNoneExist: 'identifier=urn:oid:1.2.3|cond-1' }));
    assert.equal(first.statusCode, 201);
    const second = await fhir.request(req({ interaction: 'create', body: identified, ifNoneExist: 'identifier=urn:oid:1.2.3|cond-1' }));
    assert.equal(second.statusCode, 200);
    assert.equal(peers.vault.requests.at(-1)?.headers['if-none-exist'], 'identifier=urn%3Aoid%3A1.2.3%7Ccond-1');

    const updated = await fhir.request(req({ interaction: 'update', conditional: true, query: { identifier: 'urn:oid:1.2.3|cond-1' }, body: { ...identified, status: 'amended' } }));
    assert.equal((updated.body as Resource).status, 'amended');
    assert.equal(peers.vault.requests.at(-1)?.method, 'PUT');

    await fhir.request(req({ interaction: 'delete', resourceType: 'Observation', conditional: true, query: 'identifier=urn:oid:1.2.3|cond-1' }));
    const after = await fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { identifier: 'urn:oid:1.2.3|cond-1' } }));
    assert.equal(((after.body as { entry?: unknown[] }).entry ?? []).length, 0);
  });

  it('batch and transaction', async () => {
    const batch = await fhir.request(req({
      interaction: 'batch',
      body: { resourceType: 'Bundle', type: 'batch', entry: [
        { resource: { ...observation('b1'), id: 'batch-obs-1' }, request: { method: 'PUT', url: 'Observation/batch-obs-1' } },
        { request: { method: 'GET', url: 'Observation/does-not-exist' } },
      ] },
    }));
    const entries = (batch.body as { type: string; entry: Array<{ response: { status: string } }> });
    assert.equal(entries.type, 'batch-response');
    assert.match(entries.entry[0].response.status, /^201/);
    assert.match(entries.entry[1].response.status, /^404/);

    const tx = await fhir.request(req({
      interaction: 'transaction',
      body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { ...observation('t1'), id: 'tx-obs-1' }, request: { method: 'PUT', url: 'Observation/tx-obs-1' } }] },
    }));
    assert.equal((tx.body as { type: string }).type, 'transaction-response');
    assert.equal(peers.vault.requests.at(-1)?.path, `/fhir/${P}`);
  });

  it('capabilities and operations ($validate at type and instance level)', async () => {
    const caps = await fhir.request(req({ interaction: 'capabilities', partition: 'DEFAULT' }));
    assert.equal((caps.body as Resource).resourceType, 'CapabilityStatement');
    assert.equal(peers.vault.requests[0].path, '/fhir/DEFAULT/metadata');

    await peers.vault.repository(P).createResource({ resourceType: 'Observation', id: 'obs-ops', status: 'final', code: { text: 'x' } } as never);
    const instance = await fhir.request(req({ interaction: 'operation', operation: 'validate', resourceType: 'Observation', id: 'obs-ops', body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } }));
    assert.equal((instance.body as Resource).resourceType, 'OperationOutcome');
    assert.equal(peers.vault.requests.at(-1)?.path, `/fhir/${P}/Observation/obs-ops/$validate`);

    const validation = await fhir.request(req({ interaction: 'operation', operation: '$validate', resourceType: 'Observation', body: { resourceType: 'Observation', status: 'bogus' } }));
    assert.equal((validation.body as Resource).resourceType, 'OperationOutcome');
  });

  it('turns an OperationOutcome into CARA_HTTP with the issues in the message', async () => {
    const err = await rejection(fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { 'no-such-param': 'x' } })));
    assert.equal(err.code, 'CARA_HTTP');
    assert.equal(err.statusCode, 400);
    assert.match(err.message, /error .*no-such-param/i);
    assert.equal((err.outcome as Resource).resourceType, 'OperationOutcome');
  });

  it('recovers from a 401 with a new token; retries a PUT on 503 but not a POST', async () => {
    peers.vault.faults.queue({ kind: 'status', status: 401 }, 1);
    await fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { _count: 1 } }));
    const auth = peers.vault.requests.map((r) => r.headers.authorization);
    assert.equal(auth.length, 2);
    assert.notEqual(auth[0], auth[1]);

    peers.vault.requests.length = 0;
    peers.vault.faults.queue({ kind: 'status', status: 503, retryAfterSeconds: 1 }, 1);
    const put = await fhir.request(req({ interaction: 'update', body: { ...observation('r'), id: 'retry-put' } }));
    assert.equal(put.statusCode, 201);
    assert.equal(peers.vault.requests.length, 2);
    assert.deepEqual(peers.sleeps, [1_000]);

    peers.vault.requests.length = 0;
    peers.vault.faults.queue({ kind: 'status', status: 503, retryAfterSeconds: 1 }, 1);
    const post = await rejection(fhir.request(req({ interaction: 'create', body: observation('r') })));
    assert.equal(post.statusCode, 503);
    assert.equal(peers.vault.requests.length, 1);
  });

  it('retries a GET after the connection is dropped', async () => {
    peers.vault.faults.queue({ kind: 'drop' }, 1);
    const res = await fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { _count: 1 } }));
    assert.equal(res.statusCode, 200);
    assert.equal(peers.vault.requests.length, 2);
  });

  it('reports a 2xx body that is not JSON as CARA_BAD_RESPONSE where JSON is required', async () => {
    peers.vault.faults.queue({ kind: 'status', status: 200, body: '<html>proxy login</html>' }, 1);
    const err = await rejection(fhir.request(req({ resourceType: 'Observation', id: 'x' })));
    assert.equal(err.code, 'CARA_BAD_RESPONSE');
    peers.vault.faults.queue({ kind: 'status', status: 200, body: { resourceType: 'Patient' } }, 1);
    assert.equal((await rejection(fhir.request(req({ interaction: 'search', resourceType: 'Patient' })))).code, 'CARA_BAD_RESPONSE');
  });

  it('refuses injection attempts with CARA_INPUT and sends nothing', async () => {
    const attempts: Array<Partial<FhirRequest>> = [
      { partition: '../other-partition', resourceType: 'Patient', id: 'p' },
      { partition: `${OTHER}/Patient`, resourceType: 'Patient', id: 'p' },
      { partition: 'a%2Fb', resourceType: 'Patient', id: 'p' },
      { partition: 'urn:cara:account:x', resourceType: 'Patient', id: 'p' },
      { resourceType: '../Patient', id: 'p' },
      { resourceType: 'Patient?_id=x', id: 'p' },
      { resourceType: 'patient', id: 'p' },
      { resourceType: 'Patient', id: '../../other-partition/Patient/p' },
      { resourceType: 'Patient', id: 'p#x' },
      { resourceType: 'Patient', id: 'p q' },
      { resourceType: 'Patient', id: 'pä' },
      { resourceType: 'Patient', id: 'p%2F..' },
      { interaction: 'operation', operation: '../$everything', resourceType: 'Patient' },
      { interaction: 'operation', operation: 'everything?x=1', resourceType: 'Patient' },
      { interaction: 'vread', resourceType: 'Patient', id: 'p', versionId: '1/../../x' },
    ];
    for (const attempt of attempts) {
      const err = await rejection(fhir.request(req(attempt)));
      assert.equal(err.code, 'CARA_INPUT', `${JSON.stringify(attempt)}: ${err.message}`);
    }
    assert.equal(peers.vault.requests.length, 0);
  });

  it('passes a valid traceparent on', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { _count: 1 }, traceparent, tracestate: 'cara=t' }));
    assert.equal(peers.vault.requests[0].headers.traceparent, traceparent);
    assert.equal(peers.vault.requests[0].headers.tracestate, 'cara=t');
  });

  it('pages() of an interaction that is not paged yields its one response as it is', async () => {
    const created = await fhir.request(req({ interaction: 'create', body: observation('one-page'), preferReturn: 'representation' }));
    const id = (created.body as Resource).id as string;
    const pages = [];
    for await (const page of fhir.pages(req({ resourceType: 'Observation', id }))) pages.push(page);
    assert.equal(pages.length, 1);
    assert.equal((pages[0].body as Resource).resourceType, 'Observation');
    assert.equal((pages[0].body as Resource).id, id);
  });

  it('refuses a base URL that is not https (the library applies the config rule itself)', () => {
    for (const baseUrl of ['http://ws-fhir-mtls.cara.ch/fhir', 'https://user:pw@ws-fhir-mtls.cara.ch/fhir', 'https://ws-fhir-mtls.cara.ch/fhir?x=1', 'not a url']) {
      assert.throws(() => new FhirClient({ http: peers.http, baseUrl }), (err: unknown) => err instanceof CaraError && err.code === 'CARA_CONFIG' && err.property === 'fhirBaseUrl', baseUrl);
    }
  });

  it('CaraClient.close() ends a request waiting out a Retry-After of 30 s with CARA_CLOSED, and close() resolves', async () => {
    const identity = peers.pki.client(CLIENT_CN);
    const client = await createCaraClient({
      clientId: CLIENT_ID,
      scope: SCOPES.join(' '),
      issuer: peers.iam.issuer,
      fhirBaseUrl: peers.vault.base,
      tls: { certificate: { type: 'pem', cert: identity.certPem, key: identity.keyPem }, extraCa: [peers.pki.ca.certPem] },
      timeoutMs: 5_000,
    });
    peers.vault.faults.queue({ kind: 'status', status: 429, retryAfterSeconds: 30 }, 1);
    const pending = client.fhir.request(req({ interaction: 'search', resourceType: 'Observation', query: { _count: 1 } }));
    pending.catch(() => undefined);
    await eventually(() => peers.vault.requests.length === 1, 5_000, 'the first attempt');
    let guard: NodeJS.Timeout | undefined;
    const stillWaiting = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error('the request still waits after close()')), 3_000);
    });
    try {
      await Promise.race([client.close(), stillWaiting]);
      const err = await rejection(Promise.race([pending, stillWaiting]));
      assert.equal(err.code, 'CARA_CLOSED', err.message);
    } finally {
      clearTimeout(guard);
    }
    assert.equal(peers.vault.requests.length, 1, 'not sent again');
  });
});
