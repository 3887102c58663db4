/**
 * FHIR request planning (validation, URLs, headers) and link rebasing: pure functions.
 */
import { strict as assert } from 'node:assert';
import { CaraError } from '../src/errors';
import { planRequest } from '../src/fhir/plan';
import { rebaseLink } from '../src/fhir/paging';
import { normalizeBaseUrl, toSearchParams, vaultUrl } from '../src/fhir/urls';
import type { FhirRequest } from '../src/fhir/types';
import { describeOutcome } from '../src/fhir/outcome';

const base = normalizeBaseUrl('https://ws-fhir-mtls.cara.ch/fhir/');
const P = '19776259-4d3e-4a1d-85e3-f1c6e48ec7f1';

function plan(req: Partial<FhirRequest>): ReturnType<typeof planRequest> {
  return planRequest(base, { partition: P, interaction: 'read', ...req } as FhirRequest);
}

function inputErrorOf(fn: () => unknown): CaraError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CaraError, String(err));
    assert.equal(err.code, 'CARA_INPUT', err.message);
    return err;
  }
  assert.fail('expected CARA_INPUT');
}

const at = (path: string): string => `https://ws-fhir-mtls.cara.ch/fhir/${P}${path}`;

describe('FHIR request planning', () => {
  it('read, vread, capabilities', () => {
    const read = plan({ resourceType: 'Observation', id: 'abc-1.2' });
    assert.equal(read.method, 'GET');
    assert.equal(read.url.href, at('/Observation/abc-1.2'));
    assert.equal(read.headers.accept, 'application/fhir+json');
    assert.equal(read.idempotent, true);
    assert.equal(plan({ interaction: 'vread', resourceType: 'Observation', id: 'a', versionId: '3' }).url.href, at('/Observation/a/_history/3'));
    assert.equal(plan({ interaction: 'capabilities' }).url.href, at('/metadata'));
    assert.equal(planRequest(base, { interaction: 'capabilities', partition: 'DEFAULT' }).url.href, 'https://ws-fhir-mtls.cara.ch/fhir/DEFAULT/metadata');
  });

  it('vaultUrl: the same URL whatever the base looks like; a segment is never read as query or fragment', () => {
    const odd = normalizeBaseUrl('https://[::1]:8443/my%20vault/fhir//');
    assert.equal(vaultUrl(odd, 'P', ['Patient', '1'], new URLSearchParams('a=b c')).href, 'https://[::1]:8443/my%20vault/fhir/P/Patient/1?a=b+c');
    assert.equal(vaultUrl(base, 'P', []).href, 'https://ws-fhir-mtls.cara.ch/fhir/P');
    // Callers validate segments first; unvalidated ones still stay in the path, encoded.
    const unsafe = vaultUrl(base, 'P', ['a?b', 'c#d', 'e f']);
    assert.equal(unsafe.href, 'https://ws-fhir-mtls.cara.ch/fhir/P/a%3Fb/c%23d/e%20f');
    assert.equal(unsafe.search, '');
    assert.equal(unsafe.hash, '');
    const withUser = new URL('https://u:pw@h.example/fhir');
    assert.equal(vaultUrl(withUser, 'P', ['Patient']).href, 'https://u:pw@h.example/fhir/P/Patient');
  });

  it('search: query objects and strings are encoded by URLSearchParams; POST _search sends a form', () => {
    const s = plan({ interaction: 'search', resourceType: 'CarePlan', query: { status: 'active', _tag: 'https://terminology.cara.ch/CodeSystem/fhirvault-namespace|cara:scp', code: ['a', 'b'], _count: 50, _total: true } });
    assert.equal(s.url.pathname, `/fhir/${P}/CarePlan`);
    assert.deepEqual([...s.url.searchParams.entries()], [
      ['status', 'active'], ['_tag', 'https://terminology.cara.ch/CodeSystem/fhirvault-namespace|cara:scp'], ['code', 'a'], ['code', 'b'], ['_count', '50'], ['_total', 'true'],
    ]);
    const fromString = plan({ interaction: 'search', resourceType: 'Patient', query: '?name=Müller Hans&birthdate=ge1970' });
    assert.equal(fromString.url.search, '?name=M%C3%BCller+Hans&birthdate=ge1970');
    assert.equal(plan({ interaction: 'search', query: '_type=Patient' }).url.href, at('?_type=Patient'));
    const post = plan({ interaction: 'search', resourceType: 'Observation', query: { code: 'x y' }, searchVia: 'POST' });
    assert.equal(post.method, 'POST');
    assert.equal(post.url.href, at('/Observation/_search'));
    assert.equal(post.body, 'code=x+y');
    assert.equal(post.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(post.idempotent, true);
    inputErrorOf(() => plan({ interaction: 'search', resourceType: 'Patient', query: 'name=x#frag' }));
    inputErrorOf(() => plan({ interaction: 'search', resourceType: 'Patient', query: { name: { nested: 1 } as unknown as string } }));
  });

  it('create with If-None-Exist, Content-Type and Prefer; type from the body', () => {
    const c = plan({ interaction: 'create', body: { resourceType: 'Observation', status: 'final' }, ifNoneExist: 'Observation?identifier=urn:oid:1.2|42', preferReturn: 'representation' });
    assert.equal(c.method, 'POST');
    assert.equal(c.url.href, at('/Observation'));
    assert.equal(c.headers['content-type'], 'application/fhir+json');
    assert.equal(c.headers['if-none-exist'], 'identifier=urn%3Aoid%3A1.2%7C42');
    assert.equal(c.headers.prefer, 'return=representation');
    assert.equal(c.idempotent, false);
    assert.deepEqual(JSON.parse(c.body ?? ''), { resourceType: 'Observation', status: 'final' });
    inputErrorOf(() => plan({ interaction: 'create', resourceType: 'Patient', body: { resourceType: 'Observation' } }));
    inputErrorOf(() => plan({ interaction: 'create', body: 'not json' }));
    inputErrorOf(() => plan({ interaction: 'create', body: { status: 'final' } }));
  });

  it('update by id (from the body too) with If-Match, or conditional', () => {
    const u = plan({ interaction: 'update', body: { resourceType: 'Observation', id: 'o1' }, ifMatch: '3' });
    assert.equal(u.method, 'PUT');
    assert.equal(u.url.href, at('/Observation/o1'));
    assert.equal(u.headers['if-match'], 'W/"3"');
    assert.equal(u.idempotent, true);
    const cu = plan({ interaction: 'update', conditional: true, body: { resourceType: 'Observation' }, query: { identifier: 'urn:oid:1.2|42' } });
    assert.equal(cu.url.href, at('/Observation?identifier=urn%3Aoid%3A1.2%7C42'));
    inputErrorOf(() => plan({ interaction: 'update', conditional: true, body: { resourceType: 'Observation' } }));
    inputErrorOf(() => plan({ interaction: 'update', id: 'o2', body: { resourceType: 'Observation', id: 'o1' } }));
    inputErrorOf(() => plan({ interaction: 'update', body: { resourceType: 'Observation' } }));
    inputErrorOf(() => plan({ interaction: 'update', id: 'o1', body: { resourceType: 'Observation' }, ifMatch: 'W/"3"\r\nX-Evil: 1' }));
  });

  it('patch: JSON Patch or FHIRPath Patch', () => {
    const jp = plan({ interaction: 'patch', resourceType: 'Observation', id: 'o1', body: [{ op: 'replace', path: '/status', value: 'amended' }] });
    assert.equal(jp.method, 'PATCH');
    assert.equal(jp.headers['content-type'], 'application/json-patch+json');
    assert.equal(jp.idempotent, false);
    const fp = plan({ interaction: 'patch', resourceType: 'Observation', id: 'o1', body: { resourceType: 'Parameters', parameter: [] } });
    assert.equal(fp.headers['content-type'], 'application/fhir+json');
    inputErrorOf(() => plan({ interaction: 'patch', resourceType: 'Observation', id: 'o1', body: { resourceType: 'Parameters' }, patchFormat: 'json-patch' }));
    inputErrorOf(() => plan({ interaction: 'patch', resourceType: 'Observation', id: 'o1', body: [{ nope: 1 }] }));
  });

  it('delete by id or conditional', () => {
    assert.equal(plan({ interaction: 'delete', resourceType: 'Observation', id: 'o1' }).url.href, at('/Observation/o1'));
    const cd = plan({ interaction: 'delete', resourceType: 'Observation', conditional: true, query: 'code=x' });
    assert.equal(cd.method, 'DELETE');
    assert.equal(cd.url.href, at('/Observation?code=x'));
    inputErrorOf(() => plan({ interaction: 'delete', resourceType: 'Observation' }));
  });

  it('history at instance, type and partition level', () => {
    assert.equal(plan({ interaction: 'history', resourceType: 'Observation', id: 'o1' }).url.href, at('/Observation/o1/_history'));
    assert.equal(plan({ interaction: 'history', resourceType: 'Observation', query: { _count: 5 } }).url.href, at('/Observation/_history?_count=5'));
    assert.equal(plan({ interaction: 'history' }).url.href, at('/_history'));
    inputErrorOf(() => plan({ interaction: 'history', id: 'o1' }));
  });

  it('batch and transaction post a Bundle of the matching type to the partition', () => {
    const b = plan({ interaction: 'batch', body: { resourceType: 'Bundle', type: 'batch', entry: [] } });
    assert.equal(b.method, 'POST');
    assert.equal(b.url.href, `https://ws-fhir-mtls.cara.ch/fhir/${P}`);
    assert.equal(b.idempotent, false);
    inputErrorOf(() => plan({ interaction: 'transaction', body: { resourceType: 'Bundle', type: 'batch' } }));
    inputErrorOf(() => plan({ interaction: 'batch', body: { resourceType: 'Patient' } }));
  });

  it('operations at partition, type and instance level', () => {
    assert.equal(plan({ interaction: 'operation', operation: 'everything', resourceType: 'Patient', id: 'p1' }).url.href, at('/Patient/p1/$everything'));
    const v = plan({ interaction: 'operation', operation: '$validate', resourceType: 'Observation', body: { resourceType: 'Observation' } });
    assert.equal(v.method, 'POST');
    assert.equal(v.url.href, at('/Observation/$validate'));
    assert.equal(v.idempotent, false);
    assert.equal(plan({ interaction: 'operation', operation: 'meta', query: { a: 1 } }).url.href, at('/$meta?a=1'));
    inputErrorOf(() => plan({ interaction: 'operation', operation: 'x', operationMethod: 'GET', body: {} }));
  });

  it('passes a valid traceparent (and tracestate) on, drops an invalid one', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const ok = plan({ resourceType: 'Patient', id: 'p', traceparent: tp, tracestate: 'cara=1' });
    assert.equal(ok.headers.traceparent, tp);
    assert.equal(ok.headers.tracestate, 'cara=1');
    assert.equal(ok.pageHeaders.traceparent, tp);
    for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'garbage', `${tp}\r\nx: y`]) {
      const dropped = plan({ resourceType: 'Patient', id: 'p', traceparent: bad, tracestate: 'cara=1' });
      assert.equal(dropped.headers.traceparent, undefined);
      assert.equal(dropped.headers.tracestate, undefined);
    }
  });

  const injections = ['../x', '..', '.', 'a/b', 'a?b', 'a#b', 'a%2Fb', 'a b', 'urn:uuid:1234', 'Ωmega', '', 'a\r\nb', 'a+b'];
  for (const [property, extra] of [
    ['partition', { resourceType: 'Patient', id: 'p1' }],
    ['resourceType', { id: 'p1' }],
    ['id', { resourceType: 'Patient' }],
    ['versionId', { interaction: 'vread', resourceType: 'Patient', id: 'p1' }],
    ['operation', { interaction: 'operation', resourceType: 'Patient' }],
  ] as const) {
    it(`refuses injection attempts in ${property}, naming it and the expected form`, () => {
      for (const value of injections) {
        if (value === '' && property !== 'partition' && property !== 'operation') continue; // '' means "not given" for these
        const err = inputErrorOf(() => plan({ ...extra, [property]: value } as Partial<FhirRequest>));
        assert.equal(err.property, property);
        assert.match(err.message, new RegExp(`^${property} .*; expected `));
      }
    });
  }

  it('refuses unknown interactions and bad paging bounds', () => {
    inputErrorOf(() => plan({ interaction: 'search-all' as FhirRequest['interaction'] }));
  });

  it('toSearchParams re-encodes a string query', () => {
    assert.equal(toSearchParams('a=1&b=x%20y&c=%7C').toString(), 'a=1&b=x+y&c=%7C');
  });
});

describe('rebaseLink', () => {
  const q = '?_getpages=4f1c&_getpagesoffset=20&_count=20&_bundletype=searchset';
  const ok: Array<[string, string]> = [
    [`http://localhost:9051/fhir/${P}${q}`, at(q)],
    [`http://localhost:9051/fhir/${P}/Observation${q}`, at(`/Observation${q}`)],
    [`http://hapi-internal:8080/fhir/${P}/Observation/o1/_history/2`, at('/Observation/o1/_history/2')],
    [at(`/Patient${q}#frag`), at(`/Patient${q}`)],
    [`Observation${q}`, at(`/Observation${q}`)],
    [`/fhir/${P}/Observation?x=1`, at('/Observation?x=1')],
  ];
  for (const [link, expected] of ok) {
    it(`rebases ${link}`, () => assert.equal(rebaseLink(link, base, P).href, expected));
  }
  const refused = [
    `http://localhost:9051/fhir/OTHER/Observation${q}`, // another partition
    `https://ws-fhir-mtls.cara.ch/fhir/OTHER${q}`,
    `https://evil.example/steal${q}`, // unrecognisable
    `https://evil.example/${P}/Observation`, // no /fhir/ marker before the partition
    `http://localhost:9051/fhir`, // no partition
    `http://localhost:9051/fhir/${P}/Observation/%2E%2E%2Fx`,
    `http://localhost:9051/fhir/${P}/Obs%20ervation`,
    `javascript:alert(1)`,
    `https://ws-fhir-mtls.cara.ch/other/${P}`,
  ];
  for (const link of refused) {
    it(`refuses ${link}`, () => {
      assert.throws(() => rebaseLink(link, base, P), (err: unknown) => err instanceof CaraError && err.code === 'CARA_UNSAFE_LINK');
    });
  }
});

describe('describeOutcome', () => {
  it('describes each issue', () => {
    assert.equal(
      describeOutcome({
        resourceType: 'OperationOutcome',
        issue: [
          { severity: 'error', code: 'invalid', diagnostics: 'Missing status', expression: ['Observation.status'] },
          { severity: 'warning', code: 'processing', details: { text: 'slow' } },
        ],
      }),
      'error invalid: Missing status (at Observation.status); warning processing: slow',
    );
    assert.equal(describeOutcome({ resourceType: 'Patient' }), undefined);
    assert.equal(describeOutcome('x'), undefined);
  });
});
