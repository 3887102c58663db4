/**
 * cara-fhir in a real Node-RED runtime against the sandbox IAM and FHIR Vault over mTLS:
 * every interaction end to end, msg.fhir headers, errors through Catch (412, 410, 400 with
 * its OperationOutcome), injection attempts refused before any request, msg overrides.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { helper, inject, missingMessageKeys, type FlowNode, type LogEvent } from './support/node-red';
import { loadFlowWithCore, startVaultPlatform, vaultConfig, type VaultPlatform } from './support/platform';

type Msg = Record<string, unknown>;
type Resource = { resourceType: string; id?: string; meta?: { versionId?: string; tag?: Array<{ code?: string }> }; [key: string]: unknown };
type Bundle = Resource & { type?: string; total?: number; entry?: Array<{ resource?: Resource; response?: { status?: string } }> };

const WARN = 30;
const PARTITION = 'nodetest-fhir';

function observation(code: string, extra: Partial<Resource> = {}): Resource {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    identifier: [{ system: 'urn:test', value: randomUUID() }],
    valueQuantity: { value: 70, unit: 'kg' },
    ...extra,
  };
}

describe('cara-fhir node (real Node-RED, real IAM + FHIR Vault over mTLS)', function () {
  let platform: VaultPlatform;

  before(async function () {
    platform = await startVaultPlatform();
    await helper.startServer();
  });

  after(async function () {
    await helper.stopServer();
    await platform.stop();
  });

  afterEach(() => helper.unload());

  /** config -> cara-fhir 'fhir' -> 'out'; Catch for it -> 'caught'. */
  async function start(settings: Partial<FlowNode>) {
    const setup = vaultConfig(platform);
    const flow: FlowNode[] = [
      { id: 'f1', type: 'tab', label: 'test' },
      setup.node,
      { id: 'fhir', type: 'cara-fhir', z: 'f1', config: setup.node.id, wires: [['out']], ...settings },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', scope: ['fhir'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
    await loadFlowWithCore(flow, setup.credentials);
    platform.takeVaultRequests();
    /** Sends `msg`; resolves with the message that leaves the node, or the one the Catch node got. */
    const result = (msg: Msg): Promise<{ out?: Msg; caught?: Msg }> =>
      new Promise((resolve, reject) => {
        const outNode = helper.getNode('out');
        const caughtNode = helper.getNode('caught');
        if (!outNode || !caughtNode) throw new Error('flow not loaded');
        const settle = (value: { out?: Msg; caught?: Msg } | Error): void => {
          clearTimeout(timer);
          outNode.removeListener('input', onOut);
          caughtNode.removeListener('input', onCaught);
          if (value instanceof Error) reject(value);
          else resolve(value);
        };
        const onOut = (m: Msg): void => settle({ out: m });
        const onCaught = (m: Msg): void => settle({ caught: m });
        const timer = setTimeout(() => settle(new Error('nothing left the node within 5 s')), 5_000);
        outNode.on('input', onOut);
        caughtNode.on('input', onCaught);
        inject('fhir', msg);
      });
    const call = async (msg: Msg): Promise<Msg> => {
      const { out, caught } = await result(msg);
      if (!out) throw new Error(`caught: ${JSON.stringify(caught?.error)}`);
      return out;
    };
    const fail = async (msg: Msg): Promise<Msg> => {
      const { out, caught } = await result(msg);
      if (!caught) throw new Error(`expected an error, got statusCode ${String(out?.statusCode)}`);
      return caught;
    };
    return { call, fail };
  }

  async function createObservation(resource = observation('29463-7')): Promise<Resource> {
    return (await platform.vault.repository(PARTITION).createResource(resource as never)) as unknown as Resource;
  }

  function warnings(): string[] {
    const calls = helper.log()?.args ?? [];
    return calls.map(([event]: [LogEvent]) => event).filter((e) => e.level === WARN && e.id === 'fhir').map((e) => String(e.msg));
  }

  describe('read and vread', function () {
    it('reads a resource: payload, statusCode, and headers on msg.fhir (not msg.headers)', async function () {
      const { call } = await start({ interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str', resourceId: 'patient', resourceIdType: 'str' });
      const msg = await call({ partition: platform.scpPatient.partition, payload: 'ignored' });
      assert.equal(msg.statusCode, 200);
      assert.equal((msg.payload as Resource).resourceType, 'Patient');
      const fhir = msg.fhir as Record<string, string>;
      assert.equal(fhir.etag, 'W/"1"');
      assert.ok(fhir.lastModified);
      assert.equal(msg.headers, undefined);
      const [request] = platform.takeVaultRequests();
      assert.equal(request.method, 'GET');
      assert.equal(request.path, `/fhir/${platform.scpPatient.partition}/Patient/patient`);
    });

    it('takes type and id from the message, and the partition from msg.accountUrn', async function () {
      const { call } = await start({ interaction: 'read' });
      const msg = await call({ accountUrn: platform.scpPatient.accountUrn, resourceType: 'CarePlan', id: 'scp-careplan' });
      assert.equal((msg.payload as Resource).id, 'scp-careplan');
    });

    it('reads an older version (vread)', async function () {
      const created = await createObservation();
      await platform.vault.repository(PARTITION).updateResource({ ...created, status: 'amended' } as never);
      const { call } = await start({ interaction: 'vread', resourceType: 'Observation', resourceTypeType: 'str' });
      const msg = await call({ partition: PARTITION, id: created.id, versionId: '1' });
      const payload = msg.payload as Resource;
      assert.equal(payload.status, 'final');
      assert.equal(payload.meta?.versionId, '1');
    });

    it('reports a missing resource through Catch with its status and OperationOutcome', async function () {
      const { fail } = await start({ interaction: 'read', resourceType: 'Observation', resourceTypeType: 'str' });
      const msg = await fail({ partition: PARTITION, id: 'does-not-exist' });
      assert.equal(msg.statusCode, 404);
      assert.equal((msg.outcome as Resource).resourceType, 'OperationOutcome');
      assert.equal((msg.error as { code: string }).code, 'CARA_HTTP');
    });
  });

  describe('search', function () {
    it('searches by GET with a query object (first page)', async function () {
      const { call } = await start({ interaction: 'search', resourceType: 'CarePlan', resourceTypeType: 'str', query: '{"status":"active","_include":"CarePlan:goal"}', queryType: 'json' });
      const msg = await call({ partition: platform.scpPatient.partition });
      const bundle = msg.payload as Bundle;
      assert.equal(bundle.type, 'searchset');
      const types = (bundle.entry ?? []).map((e) => e.resource?.resourceType).sort();
      assert.deepEqual(types, ['CarePlan', 'Goal', 'Goal']);
      const [request] = platform.takeVaultRequests();
      assert.equal(request.method, 'GET');
      assert.match(request.path, /\/CarePlan\?status=active&_include=CarePlan%3Agoal$/);
    });

    it('searches by POST _search with a query string from msg.query', async function () {
      const { call } = await start({ interaction: 'search', resourceType: 'Observation', resourceTypeType: 'str', searchVia: 'POST' });
      const msg = await call({ partition: platform.scpPatient.partition, query: 'code=http://loinc.org|29463-7' });
      assert.equal(((msg.payload as Bundle).entry ?? []).length, 1);
      const [request] = platform.takeVaultRequests();
      assert.equal(request.method, 'POST');
      assert.equal(request.path, `/fhir/${platform.scpPatient.partition}/Observation/_search`);
      assert.match(request.body, /code=http%3A%2F%2Floinc\.org%7C29463-7/);
    });
  });

  describe('create, update, patch, delete', function () {
    it('creates with Prefer: return=representation; Location is on the configured base', async function () {
      const { call } = await start({ interaction: 'create', preferReturn: 'representation' });
      const msg = await call({ partition: PARTITION, payload: observation('8480-6') });
      assert.equal(msg.statusCode, 201);
      const created = msg.payload as Resource;
      assert.ok(created.id);
      const fhir = msg.fhir as Record<string, string>;
      assert.equal(fhir.location, `${platform.vault.base}/${PARTITION}/Observation/${created.id}/_history/1`);
      assert.equal(platform.takeVaultRequests()[0].headers.prefer, 'return=representation');
      await platform.vault.repository(PARTITION).readResource('Observation', created.id as string);
    });

    it('creates only when nothing matches If-None-Exist (conditional create)', async function () {
      const value = randomUUID();
      const { call } = await start({ interaction: 'create', resourceType: 'Observation', resourceTypeType: 'str', ifNoneExist: `identifier=urn:test|${value}`, ifNoneExistType: 'str' });
      const body = observation('8480-6', { identifier: [{ system: 'urn:test', value }] });
      const first = await call({ partition: PARTITION, payload: body });
      const second = await call({ partition: PARTITION, payload: body });
      assert.equal(first.statusCode, 201);
      assert.equal(second.statusCode, 200);
      const found = await platform.vault.repository(PARTITION).searchResources({ resourceType: 'Observation', filters: [{ code: 'identifier', operator: 'eq' as never, value: `urn:test|${value}` }] });
      assert.equal(found.length, 1);
    });

    it('updates by id (from the resource), and refuses a stale If-Match with 412 through Catch', async function () {
      const created = await createObservation();
      const { call, fail } = await start({ interaction: 'update', ifMatch: 'ifMatch', ifMatchType: 'msg' });
      const updated = await call({ partition: PARTITION, payload: { ...created, status: 'amended' }, ifMatch: 'W/"1"' });
      assert.equal(updated.statusCode, 200);
      assert.equal((updated.fhir as Record<string, string>).etag, 'W/"2"');
      const stale = await fail({ partition: PARTITION, payload: { ...created, status: 'cancelled' }, ifMatch: 'W/"1"' });
      assert.equal(stale.statusCode, 412);
      assert.equal((stale.error as { code: string }).code, 'CARA_HTTP');
      const stored = (await platform.vault.repository(PARTITION).readResource('Observation', created.id as string)) as unknown as Resource;
      assert.equal(stored.status, 'amended');
    });

    it('updates conditionally by criteria', async function () {
      const created = await createObservation();
      const identifier = (created.identifier as Array<{ value: string }>)[0].value;
      const { call } = await start({ interaction: 'update', resourceType: 'Observation', resourceTypeType: 'str', conditional: true, query: `identifier=urn:test|${identifier}`, queryType: 'str' });
      const withoutId: Resource = { ...created, status: 'corrected' };
      delete withoutId.id;
      delete withoutId.meta;
      const msg = await call({ partition: PARTITION, payload: withoutId });
      assert.equal(msg.statusCode, 200);
      const stored = (await platform.vault.repository(PARTITION).readResource('Observation', created.id as string)) as unknown as Resource;
      assert.equal(stored.status, 'corrected');
      assert.match(platform.takeVaultRequests()[0].path, /\/Observation\?identifier=/);
    });

    it('patches with JSON Patch', async function () {
      const created = await createObservation();
      const { call } = await start({ interaction: 'patch', resourceType: 'Observation', resourceTypeType: 'str' });
      const msg = await call({ partition: PARTITION, id: created.id, payload: [{ op: 'replace', path: '/status', value: 'amended' }] });
      assert.equal((msg.payload as Resource).status, 'amended');
      const [request] = platform.takeVaultRequests();
      assert.equal(request.method, 'PATCH');
      assert.equal(request.headers['content-type'], 'application/json-patch+json');
    });

    it('sends a FHIRPath Patch as Parameters; the sandbox refuses it (400) and Catch gets its OperationOutcome', async function () {
      const created = await createObservation();
      const { fail } = await start({ interaction: 'patch', resourceType: 'Observation', resourceTypeType: 'str' });
      const parameters = {
        resourceType: 'Parameters',
        parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Observation.status' }, { name: 'value', valueCode: 'amended' }] }],
      };
      const msg = await fail({ partition: PARTITION, id: created.id, payload: parameters });
      assert.equal(msg.statusCode, 400);
      assert.match(JSON.stringify(msg.outcome), /FHIRPath Patch is not supported/);
      assert.equal(platform.takeVaultRequests()[0].headers['content-type'], 'application/fhir+json');
    });

    it('deletes by id (a read then gives 410) and conditionally by criteria', async function () {
      const byId = await createObservation();
      const byCriteria = await createObservation();
      const { call } = await start({ interaction: 'delete', resourceType: 'Observation', resourceTypeType: 'str' });
      await call({ partition: PARTITION, id: byId.id });
      const requests = platform.takeVaultRequests();
      await helper.unload();
      const conditional = await start({ interaction: 'delete', resourceType: 'Observation', resourceTypeType: 'str', conditional: true });
      const identifier = (byCriteria.identifier as Array<{ value: string }>)[0].value;
      await conditional.call({ partition: PARTITION, query: { identifier: `urn:test|${identifier}` } });
      requests.push(...platform.takeVaultRequests());
      assert.equal(requests[0].path, `/fhir/${PARTITION}/Observation/${byId.id}`);
      assert.match(requests[1].path, /\/Observation\?identifier=urn%3Atest%7C/);
      const repo = platform.vault.repository(PARTITION);
      assert.ok(repo.isDeleted('Observation', byId.id as string));
      assert.ok(repo.isDeleted('Observation', byCriteria.id as string));
    });
  });

  describe('a msg.query left over by a search (no "conditional" ticked)', function () {
    function identifierOf(resource: Resource): string {
      return `urn:test|${(resource.identifier as Array<{ value: string }>)[0].value}`;
    }

    for (const interaction of ['delete', 'patch'] as const) {
      it(`${interaction}: without msg.id fails with CARA_INPUT and sends nothing, however well the query would match`, async function () {
        const target = await createObservation();
        const { fail } = await start({ interaction, resourceType: 'Observation', resourceTypeType: 'str' });
        // What a search node (then a split) leaves on each message: its criteria in msg.query.
        const stale: Msg = { partition: PARTITION, query: { identifier: identifierOf(target) }, statusCode: 200 };
        if (interaction === 'patch') stale.payload = [{ op: 'replace', path: '/status', value: 'cancelled' }];
        const msg = await fail(stale);
        const error = msg.error as { code: string; message: string };
        assert.equal(error.code, 'CARA_INPUT');
        assert.match(error.message, /msg\.id is missing/);
        assert.match(error.message, /Conditional/);
        assert.equal(msg.statusCode, undefined, "the search's status does not reach Catch: the vault did not answer");
        assert.deepEqual(platform.takeVaultRequests(), [], 'no request reached the vault');
        const stored = (await platform.vault.repository(PARTITION).readResource('Observation', target.id as string)) as unknown as Resource;
        assert.equal(stored.status, 'final');
      });
    }

    it('update: takes the id from the resource and ignores the query', async function () {
      const target = await createObservation();
      const bystander = await createObservation();
      const { call } = await start({ interaction: 'update' });
      const msg = await call({ partition: PARTITION, payload: { ...target, status: 'amended' }, query: { identifier: identifierOf(bystander) } });
      assert.equal(msg.statusCode, 200);
      const [request] = platform.takeVaultRequests();
      assert.equal(request.method, 'PUT');
      assert.equal(request.path, `/fhir/${PARTITION}/Observation/${target.id}`);
      const repo = platform.vault.repository(PARTITION);
      assert.equal(((await repo.readResource('Observation', target.id as string)) as unknown as Resource).status, 'amended');
      assert.equal(((await repo.readResource('Observation', bystander.id as string)) as unknown as Resource).status, 'final');
    });
  });

  describe('history, capabilities, batch, transaction, operations', function () {
    it('reads the history of a resource, a type and the partition', async function () {
      const created = await createObservation();
      await platform.vault.repository(PARTITION).updateResource({ ...created, status: 'amended' } as never);
      const { call } = await start({ interaction: 'history' });
      const instance = (await call({ partition: PARTITION, resourceType: 'Observation', id: created.id })).payload as Bundle;
      assert.equal(instance.type, 'history');
      assert.equal(instance.entry?.length, 2);
      const type = (await call({ partition: PARTITION, resourceType: 'Observation' })).payload as Bundle;
      assert.ok((type.entry?.length ?? 0) >= 2);
      const partition = (await call({ partition: platform.scpPatient.partition })).payload as Bundle;
      assert.ok((partition.entry ?? []).some((e) => e.resource?.resourceType === 'CarePlan'));
      assert.deepEqual(
        platform.takeVaultRequests().map((r) => r.path.replace(/\?.*$/, '')),
        [`/fhir/${PARTITION}/Observation/${created.id}/_history`, `/fhir/${PARTITION}/Observation/_history`, `/fhir/${platform.scpPatient.partition}/_history`],
      );
    });

    it('reads the capability statement (partition DEFAULT when none is given)', async function () {
      const { call } = await start({ interaction: 'capabilities' });
      const msg = await call({});
      assert.equal((msg.payload as Resource).resourceType, 'CapabilityStatement');
      assert.equal(platform.takeVaultRequests()[0].path, '/fhir/DEFAULT/metadata');
    });

    it('runs a batch and a transaction from msg.payload', async function () {
      const { call } = await start({ interaction: 'batch' });
      const id = randomUUID();
      const batch = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'PUT', url: `Observation/${id}` }, resource: { ...observation('29463-7'), id } },
          { request: { method: 'GET', url: 'Patient/does-not-exist' } },
        ],
      };
      const msg = await call({ partition: PARTITION, payload: batch });
      const response = msg.payload as Bundle;
      assert.equal(response.type, 'batch-response');
      assert.match(response.entry?.[0].response?.status ?? '', /^201/);
      assert.match(response.entry?.[1].response?.status ?? '', /^404/);
      await platform.vault.repository(PARTITION).readResource('Observation', id);

      await helper.unload();
      const tx = await start({ interaction: 'transaction' });
      const txMsg = await tx.call({ partition: PARTITION, payload: { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' }, resource: observation('8480-6') }] } });
      assert.equal((txMsg.payload as Bundle).type, 'transaction-response');
    });

    it('refuses a Bundle of the wrong type before sending it', async function () {
      const { fail } = await start({ interaction: 'transaction' });
      const msg = await fail({ partition: PARTITION, payload: { resourceType: 'Bundle', type: 'batch', entry: [] } });
      assert.match((msg.error as { message: string }).message, /msg\.payload\.type/);
      assert.deepEqual(platform.takeVaultRequests(), []);
    });

    it('calls operations: $everything by GET on an instance, $validate by POST on a type', async function () {
      const { call } = await start({ interaction: 'operation', operation: '$everything', operationType: 'str', operationMethod: 'GET', resourceType: 'Patient', resourceTypeType: 'str', resourceId: 'patient', resourceIdType: 'str' });
      const msg = await call({ partition: platform.scpPatient.partition, payload: 1234 });
      const everything = msg.payload as Bundle;
      assert.ok((everything.entry ?? []).some((e) => e.resource?.resourceType === 'CarePlan'));
      assert.equal(platform.takeVaultRequests()[0].path, `/fhir/${platform.scpPatient.partition}/Patient/patient/$everything`);

      await helper.unload();
      const validate = await start({ interaction: 'operation', operation: 'validate', operationType: 'str', resourceType: 'Observation', resourceTypeType: 'str' });
      const outcome = await validate.call({ partition: PARTITION, payload: observation('29463-7') });
      assert.equal((outcome.payload as Resource).resourceType, 'OperationOutcome');
      const [request] = platform.takeVaultRequests();
      assert.equal(request.method, 'POST');
      assert.equal(request.path, `/fhir/${PARTITION}/Observation/$validate`);
    });
  });

  describe('trace context', function () {
    it('passes msg.traceparent (or msg.headers.traceparent) on to the vault', async function () {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const { call } = await start({ interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str', resourceId: 'patient', resourceIdType: 'str' });
      await call({ partition: platform.scpPatient.partition, traceparent });
      await call({ partition: platform.scpPatient.partition, headers: { traceparent, tracestate: 'cara=1' } });
      const [direct, viaHeaders] = platform.takeVaultRequests();
      assert.equal(direct.headers.traceparent, traceparent);
      assert.equal(viaHeaders.headers.traceparent, traceparent);
      assert.equal(viaHeaders.headers.tracestate, 'cara=1');
    });
  });

  describe('injection attempts and bad input', function () {
    const attempts = ['../Patient', 'a/b', 'x?y=1', 'x#y', 'a%2Fb', 'a b', 'urn:cara:account:x', '..', ''];

    for (const field of ['partition', 'resourceType', 'id', 'operation'] as const) {
      it(`refuses unsafe ${field} values with a clear error and no request`, async function () {
        const { fail } = await start({ interaction: 'operation', operationMethod: 'GET' });
        const valid: Msg = { partition: PARTITION, resourceType: 'Patient', id: 'patient', operation: '$everything' };
        for (const bad of attempts.filter((a) => !(field === 'operation' && a === ''))) {
          if (bad === '' && field !== 'partition') continue; // an empty type/id means "none": a valid request
          const msg = await fail({ ...valid, [field]: bad });
          const error = msg.error as { message: string; code: string };
          assert.equal(error.code, 'CARA_INPUT', `${field}=${JSON.stringify(bad)}`);
          assert.match(error.message, new RegExp(`msg\\.${field}`), `${field}=${JSON.stringify(bad)}: ${error.message}`);
        }
        assert.deepEqual(platform.takeVaultRequests(), [], 'no request reached the vault');
      });
    }

    it('refuses a versionId that walks the path, a non-JSON body and a missing id', async function () {
      const vread = await start({ interaction: 'vread', resourceType: 'Observation', resourceTypeType: 'str' });
      let msg = await vread.fail({ partition: PARTITION, id: 'x', versionId: '../../metadata' });
      assert.match((msg.error as { message: string }).message, /msg\.versionId/);
      msg = await vread.fail({ partition: PARTITION, versionId: '1' });
      assert.match((msg.error as { message: string }).message, /msg\.id is missing/);
      await helper.unload();
      const create = await start({ interaction: 'create', resourceType: 'Observation', resourceTypeType: 'str' });
      msg = await create.fail({ partition: PARTITION, payload: '{not json' });
      assert.match((msg.error as { message: string }).message, /not valid JSON/);
      assert.deepEqual(platform.takeVaultRequests(), []);
    });
  });

  describe('message overrides', function () {
    it('uses the node setting over msg.resourceType, with one warning', async function () {
      const { call } = await start({ interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str' });
      const first = await call({ partition: platform.scpPatient.partition, id: 'patient', resourceType: 'Observation' });
      const second = await call({ partition: platform.scpPatient.partition, id: 'patient', resourceType: 'Observation' });
      assert.equal((first.payload as Resource).resourceType, 'Patient');
      assert.equal((second.payload as Resource).resourceType, 'Patient');
      const warned = warnings();
      assert.equal(warned.length, 1, JSON.stringify(warned));
      assert.match(warned[0], /msg\.resourceType is ignored/);
    });
  });

  describe('settings fixed at deploy', function () {
    it('reads env and str settings once and a msg path per message, for every message alike', async function () {
      process.env.CARA_FHIR_TEST_PATIENT_ID = 'patient';
      try {
        const { call } = await start({
          interaction: 'read',
          resourceType: 'Patient',
          resourceTypeType: 'str',
          resourceId: 'CARA_FHIR_TEST_PATIENT_ID',
          resourceIdType: 'env',
          partition: 'target.partition',
          partitionType: 'msg',
        });
        for (let i = 0; i < 2; i++) {
          const msg = await call({ target: { partition: platform.scpPatient.partition } });
          assert.equal((msg.payload as Resource).id, 'patient');
        }
        const paths = platform.takeVaultRequests().map((r) => r.path);
        assert.deepEqual(paths, Array(2).fill(`/fhir/${platform.scpPatient.partition}/Patient/patient`));
      } finally {
        delete process.env.CARA_FHIR_TEST_PATIENT_ID;
      }
    });

    it('fails every message (not the deploy) when a fixed setting is not valid, and sends nothing', async function () {
      const { fail } = await start({ interaction: 'read', resourceType: '../Patient', resourceTypeType: 'str', resourceId: 'patient', resourceIdType: 'str' });
      for (let i = 0; i < 2; i++) {
        const error = (await fail({ partition: PARTITION })).error as { code: string; message: string };
        assert.equal(error.code, 'CARA_INPUT');
        assert.match(error.message, /^(CaraError: )?the node's resourceType setting "\.\.\/Patient" is not allowed/);
      }
      assert.deepEqual(platform.takeVaultRequests(), []);
    });

    it('reports a msg path that cannot be read as CARA_INPUT, before any request', async function () {
      const { fail } = await start({ interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str', resourceId: 'patient', resourceIdType: 'str', partition: 'a[', partitionType: 'msg' });
      const error = (await fail({ partition: PARTITION })).error as { code: string; message: string };
      assert.equal(error.code, 'CARA_INPUT');
      assert.match(error.message, /^(CaraError: )?msg\.a\[ could not be evaluated/);
      assert.deepEqual(platform.takeVaultRequests(), []);
    });
  });

  describe('configuration', function () {
    it('fails every message clearly when no cara-config is selected, without a request', async function () {
      const { fail } = await start({ config: '', interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str' });
      const msg = await fail({ partition: PARTITION, id: 'patient' });
      assert.equal((msg.error as { code: string }).code, 'CARA_CONFIG');
      assert.match((msg.error as { message: string }).message, /cara-config/);
      assert.deepEqual(platform.takeVaultRequests(), []);
    });

    it('refuses an unknown paging mode at deploy (every message fails with CARA_CONFIG)', async function () {
      const { fail } = await start({ interaction: 'search', paging: 'everything' });
      const msg = await fail({ partition: PARTITION });
      assert.equal((msg.error as { code: string }).code, 'CARA_CONFIG');
      assert.match((msg.error as { message: string }).message, /paging/);
    });
  });

  // Last: the texts every test above made the nodes show.
  describe('texts', function () {
    it('uses only catalogued texts', function () {
      const ours = [...missingMessageKeys].filter((k) => k.startsWith('cara-fhir.'));
      assert.deepEqual(ours, []);
    });
  });
});
