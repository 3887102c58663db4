/**
 * The Shared Care Plan journey of a primary system as ONE Node-RED flow, in a real runtime
 * against the sandbox IAM, AIM and FHIR Vault over mTLS (platform.md, "The journey"):
 *
 *   cara-token -> cara-resolve-account -> cara-fhir search CarePlan (+Goals)
 *   -> cara-fhir search CareTeam (+Organization) -> function: batch of PUT Observation/<uuid>
 *   -> cara-fhir batch -> cara-fhir patch (status -> amended) -> cara-fhir read back
 *
 * and then checks what the vault stored.
 */
import { strict as assert } from 'node:assert';
import { collect, helper, inject, type FlowNode } from './support/node-red';
import { loadFlowWithCore, startVaultPlatform, vaultConfig, type VaultPlatform } from './support/platform';
import { NAMESPACE_TAG_SYSTEM } from '../sandbox/vault';
import { SCP_PROFILES, SCP_TRACKED_CODES } from '../sandbox/seed';

type Resource = {
  resourceType: string;
  id?: string;
  status?: string;
  meta?: { versionId?: string; profile?: string[]; tag?: Array<{ system?: string; code?: string }> };
  identifier?: Array<{ system?: string; value?: string }>;
  performer?: Array<{ reference?: string }>;
  code?: { coding?: Array<{ system?: string; code?: string }> };
};

const NAMESPACE = `${NAMESPACE_TAG_SYSTEM}|cara:scp`;
const OBSERVATION_PROFILE = 'https://terminology.cara.ch/StructureDefinition/ScpObservationExternal';

/** Function node code: keeps the CarePlan search result for the next steps. */
const KEEP_PLAN = `
msg.scp = { plan: msg.payload };
return msg;
`;

/** Function node code: one Observation per tracked code, performer = the CareTeam's Organization. */
const BUILD_BATCH = `
const uuid = () => 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = Math.random() * 16 | 0;
    return (c === 'x' ? r : (r & 0x3 | 0x8)).toString(16);
});
const resources = (bundle) => (bundle.entry || []).map((e) => e.resource);
const plan = resources(msg.scp.plan).find((r) => r.resourceType === 'CarePlan');
const goals = resources(msg.scp.plan).filter((r) => r.resourceType === 'Goal');
const organization = resources(msg.payload).find((r) => r.resourceType === 'Organization');
if (!plan || goals.length === 0 || !organization) throw new Error('incomplete Shared Care Plan context');
const measured = { '29463-7': { value: 71.2, unit: 'kg' }, '8480-6': { value: 128, unit: 'mm[Hg]' } };
const entries = goals.map((goal) => {
    const coding = goal.target[0].measure.coding[0];
    const id = uuid();
    const value = measured[coding.code];
    return {
        fullUrl: 'urn:uuid:' + id,
        resource: {
            resourceType: 'Observation',
            id: id,
            meta: {
                profile: ['${OBSERVATION_PROFILE}'],
                tag: [{ system: '${NAMESPACE_TAG_SYSTEM}', code: 'cara:scp' }],
            },
            identifier: [{ system: 'urn:cara:account', value: msg.accountUrn }],
            status: 'final',
            code: { coding: [coding] },
            subject: plan.subject,
            effectiveDateTime: '2025-03-01T10:00:00Z',
            performer: [{ reference: 'Organization/' + organization.id }],
            valueQuantity: { value: value.value, unit: value.unit, system: 'http://unitsofmeasure.org', code: value.unit },
        },
        request: { method: 'PUT', url: 'Observation/' + id },
    };
});
msg.scp.observationIds = entries.map((e) => e.resource.id);
msg.payload = { resourceType: 'Bundle', type: 'batch', entry: entries };
return msg;
`;

/** Function node code: checks the batch answer, then asks to amend the first Observation. */
const PREPARE_PATCH = `
const failed = (msg.payload.entry || []).filter((e) => !/^2/.test(e.response.status));
if (failed.length > 0) throw new Error('batch entries failed: ' + JSON.stringify(failed));
msg.scp.batchResponse = msg.payload;
msg.id = msg.scp.observationIds[0];
msg.payload = [{ op: 'replace', path: '/status', value: 'amended' }];
return msg;
`;

describe('Shared Care Plan journey as one flow (real Node-RED, real IAM + AIM + vault)', function () {
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

  function journeyFlow(configId: string): FlowNode[] {
    const node = (id: string, type: string, next: string | undefined, settings: Record<string, unknown> = {}): FlowNode => ({
      id,
      type,
      z: 'f1',
      ...(type.startsWith('cara-') ? { config: configId } : {}),
      wires: next ? [[next]] : [],
      ...settings,
    });
    return [
      { id: 'f1', type: 'tab', label: 'Shared Care Plan' },
      node('token', 'cara-token', 'resolve', { property: 'cara.accessToken' }),
      node('resolve', 'cara-resolve-account', 'careplans'),
      node('careplans', 'cara-fhir', 'keep-plan', {
        interaction: 'search',
        resourceType: 'CarePlan',
        resourceTypeType: 'str',
        query: JSON.stringify({ _profile: SCP_PROFILES.carePlan, _tag: NAMESPACE, _include: 'CarePlan:goal', status: 'active' }),
        queryType: 'json',
      }),
      node('keep-plan', 'function', 'careteams', { func: KEEP_PLAN, outputs: 1 }),
      node('careteams', 'cara-fhir', 'build-batch', {
        interaction: 'search',
        resourceType: 'CareTeam',
        resourceTypeType: 'str',
        query: `_profile=${SCP_PROFILES.careTeam}&_tag=${NAMESPACE}&_include=CareTeam:participant&status=active`,
        queryType: 'str',
      }),
      node('build-batch', 'function', 'batch', { func: BUILD_BATCH, outputs: 1 }),
      node('batch', 'cara-fhir', 'prepare-patch', { interaction: 'batch' }),
      node('prepare-patch', 'function', 'amend', { func: PREPARE_PATCH, outputs: 1 }),
      node('amend', 'cara-fhir', 'read-back', { interaction: 'patch', resourceType: 'Observation', resourceTypeType: 'str' }),
      node('read-back', 'cara-fhir', 'out', { interaction: 'read', resourceType: 'Observation', resourceTypeType: 'str' }),
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
  }

  it('resolves the patient, reads the plan, contributes Observations, amends one and reads it back', async function () {
    const setup = vaultConfig(platform);
    await loadFlowWithCore([setup.node, ...journeyFlow(setup.node.id)], setup.credentials);
    const out = collect('out');
    const caught = collect('caught');
    const patient = platform.scpPatient;
    const aimBefore = platform.aim.requests.length;
    platform.takeVaultRequests();

    inject('token', { payload: patient.mpiIdUrn });
    const result = await Promise.race([out.next(10_000), caught.next(10_000).then((m) => Promise.reject(new Error(JSON.stringify(m.error))))]);

    // What the flow delivers: the amended Observation, read back from the vault.
    const observationIds = (result.scp as { observationIds: string[] }).observationIds;
    assert.equal(observationIds.length, 2, 'one Observation per Goal of the plan');
    const readBack = result.payload as Resource;
    assert.equal(readBack.id, observationIds[0]);
    assert.equal(readBack.status, 'amended');
    assert.equal(readBack.meta?.versionId, '2');
    assert.equal(result.accountUrn, patient.accountUrn);
    assert.equal(result.partition, patient.partition);
    assert.equal(typeof (result.cara as { accessToken?: unknown }).accessToken, 'string');

    // What the vault stored, straight from its repository.
    const repo = platform.vault.repository(patient.partition);
    const stored = await Promise.all(observationIds.map((id) => repo.readResource('Observation', id) as unknown as Promise<Resource>));
    assert.deepEqual(stored.map((o) => o.status), ['amended', 'final']);
    assert.deepEqual(
      stored.map((o) => o.code?.coding?.[0]?.code).sort(),
      [SCP_TRACKED_CODES.bodyWeight.code, SCP_TRACKED_CODES.systolicBloodPressure.code].sort(),
    );
    for (const observation of stored) {
      assert.deepEqual(observation.meta?.profile, [OBSERVATION_PROFILE]);
      assert.ok(observation.meta?.tag?.some((t) => t.system === NAMESPACE_TAG_SYSTEM && t.code === 'cara:scp'), 'cara:scp namespace tag');
      assert.deepEqual(observation.identifier, [{ system: 'urn:cara:account', value: patient.accountUrn }]);
      assert.deepEqual(observation.performer, [{ reference: 'Organization/scp-organization' }]);
    }

    // How it got there: one AIM lookup, and the vault requests of the journey, in order, with the token.
    assert.equal(platform.aim.requests.length - aimBefore, 1);
    const requests = platform.takeVaultRequests();
    const base = `/fhir/${patient.partition}`;
    assert.deepEqual(
      requests.map((r) => `${r.method} ${r.path.replace(/\?.*$/, '')}`),
      [`GET ${base}/CarePlan`, `GET ${base}/CareTeam`, `POST ${base}`, `PATCH ${base}/Observation/${observationIds[0]}`, `GET ${base}/Observation/${observationIds[0]}`],
    );
    assert.match(requests[0].path, /_include=CarePlan%3Agoal/);
    assert.match(requests[1].path, /_include=CareTeam%3Aparticipant/);
    assert.ok(requests.every((r) => /^Bearer /.test(String(r.headers.authorization))), 'every vault request carries the bearer token');
    assert.equal(caught.messages.length, 0);
  });
});
