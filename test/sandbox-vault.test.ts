import { faultsFromEnv } from '../sandbox/cli';
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { Agent, request } from 'undici';
import type { Bundle, BundleEntry, Observation, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { startIam, type IamClientRegistration, type RunningIam } from '../sandbox/iam';
import { createPki, type Pki } from '../sandbox/pki';
import { scpPatient, SCP_NAMESPACE_SYSTEM, SCP_PROFILES, seedVault } from '../sandbox/seed';
import { startVault, type RunningVault } from '../sandbox/vault';

const WRITER: IamClientRegistration = {
  clientId: 'tcu-bestclinic/scp-importer',
  certificateCommonName: 'tcu-bestclinic-scp-importer',
  scopes: ['ns:cara:scp.Contributor', 'ns:cara:authx.Reader'],
};
const READER: IamClientRegistration = { clientId: 'tcu-reader', certificateCommonName: 'tcu-reader', scopes: ['ns:cara:scp.Reader'] };
const INTERNAL_BASE = 'http://localhost:9051/fhir';
const SCP_TAG = { system: SCP_NAMESPACE_SYSTEM, code: 'cara:scp' };

interface Answer<T = Resource> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: T;
}

describe('sandbox FHIR Vault (HAPI emulation on the Medplum engine, mTLS + bearer)', function () {
  let pki: Pki;
  let iam: RunningIam;
  let vault: RunningVault;
  let agent: Agent;
  let writerToken: string;
  let readerToken: string;
  let platformOnlyToken: string;
  const partition = 'p-' + randomUUID();

  async function tokenFor(client: IamClientRegistration, scope?: string): Promise<string> {
    const clientAgent = new Agent({ connect: { ca: pki.ca.certPem, ...pki.client(client.certificateCommonName) } });
    try {
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, ...(scope ? { scope } : {}) });
      const res = await request(iam.tokenEndpoint, {
        method: 'POST',
        dispatcher: clientAgent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      const body = (await res.body.json()) as { access_token?: string };
      assert.equal(res.statusCode, 200, JSON.stringify(body));
      return body.access_token as string;
    } finally {
      await clientAgent.close();
    }
  }

  /** One FHIR call on the public base; `path` is relative to `/fhir`, or an absolute URL. */
  async function fhir<T = Resource>(
    method: string,
    path: string,
    o: { token?: string | null; body?: unknown; headers?: Record<string, string>; contentType?: string } = {},
  ): Promise<Answer<T>> {
    const token = o.token === undefined ? writerToken : o.token;
    const url = path.startsWith('https://') ? path : `${vault.base}/${path}`;
    const res = await request(url, {
      method: method as 'GET',
      dispatcher: agent,
      headers: {
        accept: 'application/fhir+json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(o.body !== undefined ? { 'content-type': o.contentType ?? 'application/fhir+json' } : {}),
        ...o.headers,
      },
      body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: (text ? JSON.parse(text) : undefined) as T };
  }

  /** What a client must do with HAPI's links: keep path and query, replace the internal base. */
  function rebase(link: string): string {
    assert.ok(link.startsWith(`${INTERNAL_BASE}/`), `link on the internal base: ${link}`);
    return vault.base + link.slice(INTERNAL_BASE.length);
  }

  function observation(extra: Partial<Observation> = {}): Observation {
    return {
      resourceType: 'Observation',
      meta: { profile: [SCP_PROFILES.observationExternal], tag: [SCP_TAG] },
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
      valueQuantity: { value: 70, unit: 'kg' },
      ...extra,
    };
  }

  before(async function () {
    pki = createPki();
    iam = await startIam({ pki, clients: [WRITER, READER] });
    vault = await startVault({ pki, iam, partitions: [scpPatient.partition, partition] });
    await seedVault(vault);
    agent = new Agent({ connect: { ca: pki.ca.certPem, ...pki.client('vault-test-client') } });
    [writerToken, readerToken, platformOnlyToken] = await Promise.all([
      tokenFor(WRITER),
      tokenFor(READER),
      tokenFor(READER, 'cara-platform'),
    ]);
  });

  after(async function () {
    await agent?.close();
    await vault?.stop();
    await iam?.stop();
  });

  beforeEach(function () {
    vault.faults.clear();
  });

  describe('transport and metadata', function () {
    it('serves a CapabilityStatement at [base]/metadata, [base]/DEFAULT/metadata and [base]/<partition>/metadata', async function () {
      for (const path of ['metadata', 'DEFAULT/metadata', `${partition}/metadata`]) {
        const answer = await fhir<{ resourceType: string; rest: { resource: { type: string }[] }[] }>('GET', path, { token: null });
        assert.equal(answer.status, 200, path);
        assert.match(String(answer.headers['content-type']), /^application\/fhir\+json/);
        assert.equal(answer.json.resourceType, 'CapabilityStatement');
        assert.ok(answer.json.rest[0].resource.some((r) => r.type === 'Observation'));
      }
    });

    it('refuses a TLS client without a certificate of the sandbox CA', async function () {
      const anonymous = new Agent({ connect: { ca: pki.ca.certPem } });
      try {
        await assert.rejects(request(`${vault.base}/metadata`, { dispatcher: anonymous }));
      } finally {
        await anonymous.close();
      }
    });
  });

  describe('authorization', function () {
    it('answers 401 with WWW-Authenticate and an OperationOutcome without a token, and records the request', async function () {
      const before = vault.requests.length;
      const answer = await fhir<OperationOutcome>('GET', `${partition}/Observation`, { token: null });
      assert.equal(answer.status, 401);
      assert.match(String(answer.headers['www-authenticate']), /^Bearer error="invalid_token"/);
      assert.equal(answer.json.resourceType, 'OperationOutcome');
      assert.equal(vault.requests.length, before + 1);
      assert.equal(vault.requests[before].headers.authorization, undefined);
    });

    it('answers 401 to a token signed by another key, and records the header it got', async function () {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = await new SignJWT({ scope: 'ns:cara:scp.Contributor' })
        .setProtectedHeader({ alg: 'RS256', kid: 'forged' })
        .setIssuer(iam.issuer)
        .setExpirationTime('5m')
        .sign(privateKey);
      const answer = await fhir('GET', `${partition}/Observation`, { token: forged });
      assert.equal(answer.status, 401);
      assert.equal(vault.requests.at(-1)?.headers.authorization, `Bearer ${forged}`);
    });

    it('answers 403 to a write with a Reader token, and to a read without any namespace scope', async function () {
      const write = await fhir<OperationOutcome>('POST', `${partition}/Observation`, { token: readerToken, body: observation() });
      assert.equal(write.status, 403);
      assert.equal(write.json.resourceType, 'OperationOutcome');
      const read = await fhir('GET', `${partition}/Observation`, { token: platformOnlyToken });
      assert.equal(read.status, 403);
      const allowedRead = await fhir('GET', `${partition}/Observation`, { token: readerToken });
      assert.equal(allowedRead.status, 200);
    });

    it('answers 403 to a write of a resource tagged with a namespace the token cannot contribute to', async function () {
      const authxTagged = observation({ meta: { tag: [{ system: SCP_NAMESPACE_SYSTEM, code: 'cara:authx' }] } });
      const answer = await fhir<OperationOutcome>('POST', `${partition}/Observation`, { body: authxTagged });
      assert.equal(answer.status, 403);
      assert.match(JSON.stringify(answer.json), /ns:cara:authx\.Contributor/);
    });
  });

  describe('partitions', function () {
    it('refuses partition names outside [A-Za-z0-9_-]{1,200} with 400 and an OperationOutcome', async function () {
      for (const bad of ['bad.name', 'a+b', 'x%20y', 'a'.repeat(201)]) {
        const answer = await fhir<OperationOutcome>('GET', `${bad}/Observation`);
        assert.equal(answer.status, 400, bad);
        assert.equal(answer.json.resourceType, 'OperationOutcome');
      }
      assert.equal((await fhir('GET', `${'a'.repeat(200)}/Observation`)).status, 404, 'a valid but unknown partition');
    });

    it('creates a partition on first write; a read of an unknown partition is 404', async function () {
      const fresh = 'fresh-' + randomUUID();
      assert.equal((await fhir('GET', `${fresh}/Observation`)).status, 404);
      assert.equal((await fhir('POST', `${fresh}/Observation`, { body: observation() })).status, 201);
      const search = await fhir<Bundle>('GET', `${fresh}/Observation`);
      assert.equal(search.status, 200);
      assert.equal(search.json.total, 1);
    });

    it('keeps partitions apart', async function () {
      const other = 'other-' + randomUUID();
      const created = await fhir<Observation>('POST', `${other}/Observation`, { body: observation() });
      assert.equal((await fhir('GET', `${partition}/Observation/${created.json.id}`)).status, 404);
      assert.equal((await fhir('GET', `${other}/Observation/${created.json.id}`)).status, 200);
    });
  });

  describe('REST interactions', function () {
    it('creates with Location, ETag and Last-Modified on the internal base, reads and vreads', async function () {
      const created = await fhir<Observation>('POST', `${partition}/Observation`, { body: observation() });
      assert.equal(created.status, 201);
      const id = created.json.id as string;
      assert.equal(created.json.meta?.versionId, '1');
      assert.equal(created.headers.etag, 'W/"1"');
      assert.equal(created.headers.location, `${INTERNAL_BASE}/${partition}/Observation/${id}/_history/1`);
      assert.ok(created.headers['last-modified']);
      const read = await fhir<Observation>('GET', `${partition}/Observation/${id}`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.json.valueQuantity, { value: 70, unit: 'kg' });
      const vread = await fhir<Observation>('GET', `${partition}/Observation/${id}/_history/1`);
      assert.equal(vread.json.meta?.versionId, '1');
    });

    it('refuses a create whose body carries an id (as HAPI does)', async function () {
      const answer = await fhir<OperationOutcome>('POST', `${partition}/Observation`, { body: observation({ id: 'abc' }) });
      assert.equal(answer.status, 400);
    });

    it('updates (201 on create-as-update, 200 then), honours If-Match, patches with JSON Patch', async function () {
      const id = randomUUID();
      const first = await fhir<Observation>('PUT', `${partition}/Observation/${id}`, { body: observation({ id }) });
      assert.equal(first.status, 201);
      const second = await fhir<Observation>('PUT', `${partition}/Observation/${id}`, { body: observation({ id, status: 'amended' }) });
      assert.equal(second.status, 200);
      assert.equal(second.headers.etag, 'W/"2"');
      const stale = await fhir('PUT', `${partition}/Observation/${id}`, { body: observation({ id }), headers: { 'if-match': 'W/"1"' } });
      assert.equal(stale.status, 412);
      const patched = await fhir<Observation>('PATCH', `${partition}/Observation/${id}`, {
        body: [{ op: 'replace', path: '/status', value: 'corrected' }],
        contentType: 'application/json-patch+json',
        headers: { 'if-match': 'W/"2"' },
      });
      assert.equal(patched.status, 200);
      assert.equal(patched.json.status, 'corrected');
      assert.equal(patched.json.meta?.versionId, '3');
      const stalePatch = await fhir('PATCH', `${partition}/Observation/${id}`, {
        body: [{ op: 'replace', path: '/status', value: 'final' }],
        contentType: 'application/json-patch+json',
        headers: { 'if-match': 'W/"2"' },
      });
      assert.equal(stalePatch.status, 412);
    });

    it('deletes (then 410 Gone) and shows the versions newest first in the history', async function () {
      const created = await fhir<Observation>('POST', `${partition}/Observation`, { body: observation() });
      const id = created.json.id as string;
      await fhir('PUT', `${partition}/Observation/${id}`, { body: observation({ id, status: 'amended' }) });
      assert.equal((await fhir('DELETE', `${partition}/Observation/${id}`)).status, 200);
      assert.equal((await fhir('GET', `${partition}/Observation/${id}`)).status, 410);
      const history = await fhir<Bundle>('GET', `${partition}/Observation/${id}/_history`);
      assert.equal(history.json.type, 'history');
      assert.deepEqual(
        history.json.entry?.map((e) => e.request?.method),
        ['DELETE', 'PUT', 'POST'],
      );
    });

    it('supports conditional create (If-None-Exist)', async function () {
      const identifier = { system: 'urn:test', value: randomUUID() };
      const body = observation({ identifier: [identifier] });
      const headers = { 'if-none-exist': `identifier=${identifier.system}|${identifier.value}` };
      const first = await fhir<Observation>('POST', `${partition}/Observation`, { body, headers });
      const again = await fhir<Observation>('POST', `${partition}/Observation`, { body, headers });
      assert.equal(first.status, 201);
      assert.equal(again.status, 200);
      assert.equal(again.json.id, first.json.id);
    });

    it('runs Patient/<id>/$everything and $validate', async function () {
      const everything = await fhir<Bundle>('GET', `${scpPatient.partition}/Patient/patient/$everything`);
      assert.equal(everything.status, 200);
      const types: string[] = everything.json.entry?.map((e) => String(e.resource?.resourceType)) ?? [];
      assert.equal(types[0], 'Patient');
      for (const type of ['CarePlan', 'CareTeam', 'Goal', 'Observation']) assert.ok(types.includes(type), type);
      const valid = await fhir<OperationOutcome>('POST', `${partition}/Observation/$validate`, { body: observation(), token: readerToken });
      assert.equal(valid.status, 200);
      assert.ok(valid.json.issue.every((i) => i.severity !== 'error'), JSON.stringify(valid.json));
      const invalid = await fhir<OperationOutcome>('POST', `${partition}/Observation/$validate`, { body: { resourceType: 'Observation', status: 'nonsense' } });
      assert.ok(invalid.json.issue.some((i) => i.severity === 'error'), JSON.stringify(invalid.json));
    });

    it('answers 404 to an unknown resource type and 400 to an invalid id', async function () {
      assert.equal((await fhir('GET', `${partition}/Foo`)).status, 404);
      assert.equal((await fhir('GET', `${partition}/Observation/${'x'.repeat(65)}`)).status, 400);
    });
  });

  describe('search', function () {
    it('finds the seeded Shared Care Plan with _profile, _tag, status and _include', async function () {
      const query = new URLSearchParams({
        _profile: SCP_PROFILES.carePlan,
        _tag: `${SCP_NAMESPACE_SYSTEM}|cara:scp`,
        _include: 'CarePlan:goal',
        status: 'active',
      });
      const answer = await fhir<Bundle>('GET', `${scpPatient.partition}/CarePlan?${query}`);
      assert.equal(answer.status, 200);
      const matches = answer.json.entry?.filter((e) => e.search?.mode === 'match') ?? [];
      const included = answer.json.entry?.filter((e) => e.search?.mode === 'include') ?? [];
      assert.equal(matches.length, 1);
      assert.deepEqual(included.map((e) => e.resource?.resourceType), ['Goal', 'Goal']);
      assert.equal(answer.json.entry?.[0].fullUrl, `${INTERNAL_BASE}/${scpPatient.partition}/CarePlan/scp-careplan`);

      const team = await fhir<Bundle>('GET', `${scpPatient.partition}/CareTeam?_include=CareTeam:participant&status=active&_tag=${encodeURIComponent(`${SCP_NAMESPACE_SYSTEM}|cara:scp`)}`);
      assert.deepEqual(team.json.entry?.map((e) => e.resource?.resourceType), ['CareTeam', 'Organization']);
    });

    it('searches by POST _search with a form body', async function () {
      const answer = await fhir<Bundle>('POST', `${scpPatient.partition}/Goal/_search`, {
        body: 'lifecycle-status=active',
        contentType: 'application/x-www-form-urlencoded',
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.json.total, 2);
    });

    it('sorts with _sort (descending, missing values last)', async function () {
      const sorted = 'sorted-' + randomUUID();
      const repo = vault.repository(sorted);
      for (const day of ['02', '03', '01']) await repo.createResource(observation({ effectiveDateTime: `2025-01-${day}T00:00:00Z` }));
      await repo.createResource(observation());
      const answer = await fhir<Bundle<Observation>>('GET', `${sorted}/Observation?_sort=-date`);
      assert.deepEqual(
        answer.json.entry?.map((e) => e.resource?.effectiveDateTime?.slice(8, 10)),
        ['03', '02', '01', undefined],
      );
    });

    it('serves type and partition history with paging links', async function () {
      const hist = 'hist-' + randomUUID();
      const repo = vault.repository(hist);
      for (let i = 0; i < 5; i++) await repo.createResource(observation());
      await repo.createResource({ resourceType: 'Patient' });
      const type = await fhir<Bundle>('GET', `${hist}/Observation/_history?_count=2`);
      assert.equal(type.json.type, 'history');
      assert.equal(type.json.total, 5);
      assert.equal(type.json.entry?.length, 2);
      const next = type.json.link?.find((l) => l.relation === 'next')?.url as string;
      const second = await fhir<Bundle>('GET', rebase(next));
      assert.equal(second.json.entry?.length, 2);
      assert.equal((await fhir<Bundle>('GET', `${hist}/_history`)).json.total, 6);
    });

    it('answers 400 to an unknown search parameter', async function () {
      assert.equal((await fhir('GET', `${partition}/Observation?nonsense=1`)).status, 400);
      assert.equal((await fhir('GET', `${partition}/Observation?value-quantity=gt5`)).status, 400, 'quantity search is not emulated');
    });

    it('pages 1,050 resources through rebased _getpages next links, each exactly once', async function () {
      const big = 'big-' + randomUUID();
      const repo = vault.repository(big);
      for (let i = 0; i < 1050; i++) await repo.createResource(observation({ valueQuantity: { value: i, unit: 'kg' } }));

      const seen = new Set<string>();
      let pages = 0;
      let answer = await fhir<Bundle>('GET', `${big}/Observation?_count=100&status=final`);
      assert.equal(answer.json.total, 1050);
      for (;;) {
        assert.equal(answer.status, 200);
        pages += 1;
        for (const e of answer.json.entry ?? []) seen.add(e.resource?.id as string);
        const next = answer.json.link?.find((l) => l.relation === 'next')?.url;
        if (!next) break;
        assert.match(next, new RegExp(`^${INTERNAL_BASE}/${big}\\?_getpages=`));
        answer = await fhir<Bundle>('GET', rebase(next));
      }
      assert.equal(pages, 11);
      assert.equal(seen.size, 1050);
    });

    it('pages by _offset when the query has one, with a default page size of 20', async function () {
      const small = 'small-' + randomUUID();
      const repo = vault.repository(small);
      for (let i = 0; i < 45; i++) await repo.createResource(observation());
      const first = await fhir<Bundle>('GET', `${small}/Observation?_offset=0`);
      assert.equal(first.json.entry?.length, 20);
      const next = first.json.link?.find((l) => l.relation === 'next')?.url as string;
      assert.match(next, /_offset=20/);
      const second = await fhir<Bundle>('GET', rebase(next));
      assert.equal(second.json.entry?.length, 20);
    });

    it('refuses a _getpages id of another partition', async function () {
      const answer = await fhir<Bundle>('GET', `${scpPatient.partition}/Observation?_count=0`);
      assert.equal(answer.status, 200);
      const repo = vault.repository(partition);
      for (let i = 0; i < 3; i++) await repo.createResource(observation());
      const paged = await fhir<Bundle>('GET', `${partition}/Observation?_count=1`);
      const next = paged.json.link?.find((l) => l.relation === 'next')?.url as string;
      const elsewhere = rebase(next).replace(`/${partition}?`, `/${scpPatient.partition}?`);
      assert.equal((await fhir('GET', elsewhere)).status, 410);
    });
  });

  describe('batch and transaction', function () {
    it('runs a batch of PUTs with client-chosen ids (HAPI-style entry responses)', async function () {
      const ids = [randomUUID(), randomUUID(), randomUUID()];
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: ids.map((id): BundleEntry => ({ resource: observation({ id }), request: { method: 'PUT', url: `Observation/${id}` } })),
      };
      const answer = await fhir<Bundle>('POST', partition, { body: bundle });
      assert.equal(answer.status, 200);
      assert.equal(answer.json.type, 'batch-response');
      assert.deepEqual(answer.json.entry?.map((e) => e.response?.status), ['201 Created', '201 Created', '201 Created']);
      assert.equal(answer.json.entry?.[0].response?.location, `Observation/${ids[0]}/_history/1`);
      assert.equal((await fhir('GET', `${partition}/Observation/${ids[2]}`)).status, 200);
    });

    it('rolls a failed transaction back entirely', async function () {
      const id = randomUUID();
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: observation({ id }), request: { method: 'PUT', url: `Observation/${id}` } },
          { request: { method: 'DELETE', url: `Observation/${randomUUID()}` } },
        ],
      };
      const answer = await fhir<OperationOutcome>('POST', partition, { body: bundle });
      assert.equal(answer.status, 404);
      assert.equal(answer.json.resourceType, 'OperationOutcome');
      assert.equal((await fhir('GET', `${partition}/Observation/${id}`)).status, 404);
    });

    it('needs a Contributor scope for a batch with writes, a Reader scope for a batch of reads', async function () {
      const reads: Bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation?_count=1' } }] };
      assert.equal((await fhir('POST', partition, { token: readerToken, body: reads })).status, 200);
      const writes: Bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: observation(), request: { method: 'POST', url: 'Observation' } }] };
      assert.equal((await fhir('POST', partition, { token: readerToken, body: writes })).status, 403);
    });
  });

  describe('faults', function () {
    it('applies a queued 503 with Retry-After exactly once, after recording the request', async function () {
      vault.faults.queue({ kind: 'status', status: 503, retryAfterSeconds: 2 });
      const before = vault.requests.length;
      const faulted = await fhir<OperationOutcome>('GET', `${partition}/Observation?_count=1`);
      assert.equal(faulted.status, 503);
      assert.equal(faulted.headers['retry-after'], '2');
      assert.equal(faulted.json.resourceType, 'OperationOutcome');
      const normal = await fhir('GET', `${partition}/Observation?_count=1`);
      assert.equal(normal.status, 200);
      assert.equal(vault.requests.length, before + 2);
    });

    it('applies a fault only to matching requests, and drops connections on demand', async function () {
      vault.faults.queue({ kind: 'drop' }, 1, (r) => r.method === 'POST');
      assert.equal((await fhir('GET', `${partition}/Observation?_count=1`)).status, 200);
      await assert.rejects(fhir('POST', `${partition}/Observation`, { body: observation() }));
      assert.equal(vault.faults.pendingCount, 0);
      assert.equal((await fhir('POST', `${partition}/Observation`, { body: observation() })).status, 201);
    });

    it('answers 503 to every request while the static error rate is 1', async function () {
      vault.faults.settings = { errorRate: 1 };
      assert.equal((await fhir('GET', `${partition}/Observation?_count=1`)).status, 503);
      assert.equal((await fhir('GET', `${partition}/Observation?_count=1`)).status, 503);
      vault.faults.clear();
      assert.equal((await fhir('GET', `${partition}/Observation?_count=1`)).status, 200);
    });

    it('rate-limits with 429 + Retry-After, or drops every connection, as set at start', async function () {
      vault.faults.settings = faultsFromEnv({ SANDBOX_RATE_LIMIT_RATE: '1', SANDBOX_RETRY_AFTER: '7' });
      const limited = await fhir('GET', `${partition}/Observation?_count=1`);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '7');
      vault.faults.settings = faultsFromEnv({ SANDBOX_DROP_RATE: '1' });
      await assert.rejects(fhir('GET', `${partition}/Observation?_count=1`));
      vault.faults.clear();
      assert.equal((await fhir('GET', `${partition}/Observation?_count=1`)).status, 200);
      assert.throws(() => faultsFromEnv({ SANDBOX_ERROR_RATE: 'often' }), /SANDBOX_ERROR_RATE="often"/);
    });

    it('answers after a delay fault, then handles the request normally', async function () {
      vault.faults.queue({ kind: 'delay', ms: 30 });
      assert.equal((await fhir('GET', `${partition}/Observation?_count=1`)).status, 200);
    });
  });
});
