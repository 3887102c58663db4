/**
 * cara-resolve-account in a real Node-RED runtime against the sandbox IAM and AIM over mTLS:
 * both MPI-ID forms, output properties, the per-node cache (on / off), unknown patients as an
 * error or on the second output, malformed input and AIM errors through Catch.
 */
import { strict as assert } from 'node:assert';
import type { CaraConfigNode } from '../nodes/shared/config-api';
import { collect, helper, inject, missingMessageKeys, type FlowNode } from './support/node-red';
import { loadFlowWithCore, startVaultPlatform, vaultConfig, type VaultPlatform } from './support/platform';

const UNKNOWN_MPI = 'urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1/00000000-0000-4000-8000-000000000000';

describe('cara-resolve-account node (real Node-RED, real IAM + AIM over mTLS)', function () {
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

  async function start(settings: Partial<FlowNode> = {}) {
    const setup = vaultConfig(platform);
    const outputs = settings.unknownPatient === 'output2' ? 2 : 1;
    const flow: FlowNode[] = [
      { id: 'f1', type: 'tab', label: 'test' },
      setup.node,
      { id: 'resolve', type: 'cara-resolve-account', z: 'f1', config: setup.node.id, outputs, wires: outputs === 2 ? [['out'], ['unknown']] : [['out']], ...settings },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'unknown', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', scope: ['resolve'], uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
    await loadFlowWithCore(flow, setup.credentials);
    return { out: collect('out'), unknown: collect('unknown'), caught: collect('caught') };
  }

  const aimLookups = (): number => platform.aim.requests.length;

  it('resolves a URN MPI-ID to msg.accountUrn and msg.partition', async function () {
    const { out } = await start();
    const patient = platform.patients[0];
    inject('resolve', { payload: patient.mpiIdUrn, topic: 'kept' });
    const msg = await out.next();
    assert.equal(msg.accountUrn, patient.accountUrn);
    assert.equal(msg.partition, patient.partition);
    assert.equal(msg.topic, 'kept');
    assert.equal(msg.payload, patient.mpiIdUrn, 'the payload is left alone');
  });

  it('accepts <oid>/<extension>, a MPI-ID from another property, and writes where it is told', async function () {
    const { out } = await start({ mpiId: 'patient.mpi', mpiIdType: 'msg', accountUrnProperty: 'cara.account', partitionProperty: 'cara.partition' });
    const patient = platform.patients[1];
    inject('resolve', { patient: { mpi: patient.mpiIdUrn.replace('urn:cara:mpi_id:', '') } });
    const msg = await out.next();
    assert.deepEqual(msg.cara, { account: patient.accountUrn, partition: patient.partition });
    assert.equal(msg.accountUrn, undefined);
  });

  it('asks AIM once for repeated MPI-IDs while the cache holds them', async function () {
    const { out } = await start({ cacheTtl: 300 });
    const [a, b] = platform.patients;
    const before = aimLookups();
    for (const mpi of [a.mpiIdUrn, a.mpiIdUrn, b.mpiIdUrn, a.mpiIdUrn, b.mpiIdUrn]) {
      inject('resolve', { payload: mpi });
      await out.next();
    }
    assert.equal(aimLookups() - before, 2, 'one AIM request per distinct MPI-ID');
  });

  it('asks AIM for every message when the cache is off (0)', async function () {
    const { out } = await start({ cacheTtl: 0 });
    const patient = platform.patients[2];
    const before = aimLookups();
    for (let i = 0; i < 3; i += 1) {
      inject('resolve', { payload: patient.mpiIdUrn });
      const msg = await out.next();
      assert.equal(msg.partition, patient.partition);
    }
    assert.equal(aimLookups() - before, 3);
  });

  it('fails the message for an unknown patient by default (Catch gets 404 and CARA_UNKNOWN_PATIENT)', async function () {
    const { out, caught } = await start();
    inject('resolve', { payload: UNKNOWN_MPI });
    const msg = await caught.next();
    assert.equal(msg.statusCode, 404);
    const error = msg.error as { message: string; code: string };
    assert.equal(error.code, 'CARA_UNKNOWN_PATIENT');
    assert.match(error.message, /no account/i);
    assert.equal(out.messages.length, 0);
  });

  it('sends an unknown patient to the second output when so set', async function () {
    const { out, unknown, caught } = await start({ unknownPatient: 'output2' });
    inject('resolve', { payload: UNKNOWN_MPI });
    const msg = await unknown.next();
    assert.equal(msg.statusCode, 404);
    assert.equal((msg.error as { code: string }).code, 'CARA_UNKNOWN_PATIENT');
    assert.equal(msg.accountUrn, undefined);
    // A known patient still leaves by the first output.
    inject('resolve', { payload: platform.patients[0].mpiIdUrn });
    assert.equal((await out.next()).partition, platform.patients[0].partition);
    assert.equal(caught.messages.length, 0);
  });

  it('rejects a malformed MPI-ID without asking AIM', async function () {
    const { caught } = await start();
    const before = aimLookups();
    for (const bad of ['not-an-mpi-id', 'urn:cara:mpi_id:1.2.3/../x', 42]) {
      inject('resolve', { payload: bad });
      const msg = await caught.next();
      const error = msg.error as { message: string; code: string };
      assert.equal(error.code, 'CARA_INPUT', `for ${String(bad)}`);
      assert.match(error.message, /msg\.payload/);
    }
    assert.equal(aimLookups(), before);
  });

  it('passes an AIM error on with its status code', async function () {
    const { caught } = await start({ cacheTtl: 0 });
    platform.aim.faults.queue({ kind: 'status', status: 403 }, 1);
    inject('resolve', { payload: platform.patients[3].mpiIdUrn });
    const msg = await caught.next();
    assert.equal(msg.statusCode, 403);
    assert.equal((msg.error as { code: string }).code, 'CARA_HTTP');
  });

  it('gives Catch no stale statusCode or outcome left by an earlier node', async function () {
    const { caught } = await start();
    inject('resolve', { payload: 'not-an-mpi-id', statusCode: 200, outcome: { resourceType: 'OperationOutcome', issue: [] } });
    const msg = await caught.next();
    assert.equal((msg.error as { code: string }).code, 'CARA_INPUT');
    assert.equal(msg.statusCode, undefined);
    assert.equal(msg.outcome, undefined);
  });

  it('reports a TypedInput expression that fails on the message as bad input, naming it', async function () {
    const { caught } = await start({ mpiId: '$error("no MPI-ID in this message")', mpiIdType: 'jsonata' });
    inject('resolve', { payload: 'ignored' });
    const error = (await caught.next()).error as { code: string; message: string };
    assert.equal(error.code, 'CARA_INPUT');
    assert.match(error.message, /jsonata\.\$error.*could not be evaluated: no MPI-ID in this message/);
  });

  it('keeps its red ring when the connection renews its token, until a message succeeds', async function () {
    const { out, caught } = await start();
    const resolve = helper.getNode('resolve') as unknown as { status: { lastCall: { args: Array<{ fill?: string }> } } };
    const client = await (helper.getNode('cara-config-1') as CaraConfigNode).client();
    inject('resolve', { payload: UNKNOWN_MPI });
    await caught.next();
    assert.equal(resolve.status.lastCall.args[0].fill, 'red');
    await client.tokens.renew();
    await new Promise((tick) => setImmediate(tick));
    assert.equal(resolve.status.lastCall.args[0].fill, 'red', 'a new token does not hide the failed message');
    inject('resolve', { payload: platform.patients[0].mpiIdUrn });
    await out.next();
    await client.tokens.renew();
    await new Promise((tick) => setImmediate(tick));
    assert.equal(resolve.status.lastCall.args[0].fill, 'green', 'after a success the connection state shows again');
  });

  it('uses only catalogued texts', function () {
    const ours = [...missingMessageKeys].filter((k) => k.startsWith('cara-resolve-account.'));
    assert.deepEqual(ours, []);
  });
});
