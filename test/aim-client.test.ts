/**
 * AimClient and normalizeMpiId against the sandbox AIM and IAM (real mTLS, real tokens).
 */
import { strict as assert } from 'node:assert';
import { AimClient, partitionFromAccountUrn } from '../src/aim';
import { AuthorizedHttp } from '../src/authorized';
import { CaraError } from '../src/errors';
import { normalizeMpiId } from '../src/mpi-id';
import { startPeers, type Peers } from './support/cara-peers';
import { rejection } from './support/assertions';

const OID = '2.16.756.5.30.1.191.1.0.2.1';
const MPI_1 = `urn:cara:mpi_id:${OID}/1001`;
const MPI_2 = `urn:cara:mpi_id:${OID}/e2d9dbec-9f49-4944-8b6b-790e88d2bd0f`;
const ACCOUNT_1 = 'urn:cara:account:19776259-4d3e-4a1d-85e3-f1c6e48ec7f1';
const ACCOUNT_2 = 'urn:cara:account:patient_two';

describe('normalizeMpiId', () => {
  it('accepts the URN and the bare <oid>/<extension> form', () => {
    assert.equal(normalizeMpiId(MPI_1), MPI_1);
    assert.equal(normalizeMpiId(`${OID}/1001`), MPI_1);
    assert.equal(normalizeMpiId(`  URN:CARA:MPI_ID:${OID}/1001 `), MPI_1);
    assert.equal(normalizeMpiId('1.1.1.99.1/e2d9dbec-9f49-4944-8b6b-790e88d2bd0f'), 'urn:cara:mpi_id:1.1.1.99.1/e2d9dbec-9f49-4944-8b6b-790e88d2bd0f');
  });

  for (const bad of [undefined, null, 42, '', '1001', `${OID}/`, `/1001`, '3.1/1', '1.02/1', '1/1', `${OID}/a b`, `${OID}/../x`, `${OID}/x?y`,
    `${OID}/x#y`, `${OID}/é`, `urn:cara:other:${OID}/1`, `${OID}/1/2`, `${OID}/%2F`]) {
    it(`refuses ${JSON.stringify(bad)} as CARA_INPUT naming the property`, () => {
      assert.throws(() => normalizeMpiId(bad, 'msg.payload'), (err: unknown) => {
        assert.ok(err instanceof CaraError);
        assert.equal(err.code, 'CARA_INPUT');
        assert.equal(err.property, 'msg.payload');
        assert.match(err.message, /^msg\.payload .*expected .*urn:cara:mpi_id:/);
        return true;
      });
    });
  }
});

describe('partitionFromAccountUrn', () => {
  it('strips urn:cara:account:', () => {
    assert.equal(partitionFromAccountUrn(ACCOUNT_1), '19776259-4d3e-4a1d-85e3-f1c6e48ec7f1');
  });
  for (const bad of ['19776259', 'urn:cara:account:', 'urn:cara:account:a/b', 'urn:cara:account:../x', `urn:cara:account:${'a'.repeat(201)}`]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 40))}`, () => {
      assert.throws(() => partitionFromAccountUrn(bad), (err: unknown) => err instanceof CaraError && err.code === 'CARA_BAD_RESPONSE');
    });
  }
});

describe('AimClient against the sandbox AIM', function () {
  this.timeout(20_000);
  let peers: Peers;
  let aim: AimClient;

  before(async () => {
    peers = await startPeers({ [MPI_1]: ACCOUNT_1, [MPI_2]: ACCOUNT_2 });
  });
  after(async () => peers?.stop());
  beforeEach(() => {
    peers.aim.requests.length = 0;
    peers.aim.faults.clear();
    peers.sleeps.length = 0;
    aim = new AimClient({ http: peers.http, aimUrl: `${peers.aim.origin}/` });
  });

  it('resolves an MPI-ID to the Account URN and partition', async () => {
    const result = await aim.resolve(`${OID}/1001`);
    assert.deepEqual(result, { mpiIdUrn: MPI_1, accountUrn: ACCOUNT_1, partition: '19776259-4d3e-4a1d-85e3-f1c6e48ec7f1', cached: false });
    const [request] = peers.aim.requests;
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/api/v1/query/get-account-urn-from-mpi-id-urn');
    assert.deepEqual(JSON.parse(request.body), { mpiIdUrn: MPI_1 });
    assert.match(String(request.headers.authorization), /^Bearer ey/);
  });

  it('caches: repeated MPI-IDs cost one request each', async () => {
    for (let i = 0; i < 3; i++) {
      await aim.resolve(MPI_1);
      await aim.resolve(`${OID}/e2d9dbec-9f49-4944-8b6b-790e88d2bd0f`);
    }
    assert.equal(peers.aim.requests.length, 2);
    assert.equal((await aim.resolve(MPI_1)).cached, true);
    aim.clearCache();
    assert.equal((await aim.resolve(MPI_1)).cached, false);
    assert.equal(peers.aim.requests.length, 3);
  });

  it('shares one request between concurrent lookups of the same MPI-ID', async () => {
    const results = await Promise.all(Array.from({ length: 25 }, () => aim.resolve(MPI_1)));
    assert.equal(peers.aim.requests.length, 1);
    assert.ok(results.every((r) => r.accountUrn === ACCOUNT_1));
  });

  it('expires entries after the TTL and evicts the least recently used beyond the bound', async () => {
    let now = 1_000;
    aim = new AimClient({ http: peers.http, aimUrl: peers.aim.origin, cacheTtlMs: 60_000, cacheMaxEntries: 1, now: () => now });
    await aim.resolve(MPI_1);
    await aim.resolve(MPI_1);
    assert.equal(peers.aim.requests.length, 1);
    now += 60_001;
    assert.equal((await aim.resolve(MPI_1)).cached, false);
    assert.equal(peers.aim.requests.length, 2);
    await aim.resolve(MPI_2); // evicts MPI_1 (bound 1)
    assert.equal((await aim.resolve(MPI_1)).cached, false);
    assert.equal(peers.aim.requests.length, 4);
  });

  it('does not cache when cacheTtlMs is 0', async () => {
    aim = new AimClient({ http: peers.http, aimUrl: peers.aim.origin, cacheTtlMs: 0 });
    await aim.resolve(MPI_1);
    await aim.resolve(MPI_1);
    assert.equal(peers.aim.requests.length, 2);
  });

  it('reports an unknown patient as CARA_UNKNOWN_PATIENT 404, and does not cache it', async () => {
    const unknown = `${OID}/999999`;
    const err = await rejection(aim.resolve(unknown));
    assert.equal(err.code, 'CARA_UNKNOWN_PATIENT');
    assert.equal(err.statusCode, 404);
    assert.equal((err.outcome as { status?: number }).status, 404);
    peers.aim.patients.set(`urn:cara:mpi_id:${unknown}`, ACCOUNT_2);
    assert.equal((await aim.resolve(unknown)).accountUrn, ACCOUNT_2);
    assert.equal(peers.aim.requests.length, 2);
  });

  it('refuses a malformed MPI-ID with CARA_INPUT and sends nothing', async () => {
    for (const bad of ['not-an-mpi-id', `${OID}/../../x`, 'urn:cara:mpi_id:abc/1']) {
      const err = await rejection(aim.resolve(bad));
      assert.equal(err.code, 'CARA_INPUT');
    }
    assert.equal(peers.aim.requests.length, 0);
  });

  it('retries a 503 (a query is idempotent) and honours Retry-After', async () => {
    peers.aim.faults.queue({ kind: 'status', status: 503, retryAfterSeconds: 2 }, 1);
    const result = await aim.resolve(MPI_1);
    assert.equal(result.accountUrn, ACCOUNT_1);
    assert.equal(peers.aim.requests.length, 2);
    assert.deepEqual(peers.sleeps, [2_000]);
  });

  it('recovers from a 401 with a new token', async () => {
    const before = (await peers.tokens.get()).value;
    peers.aim.faults.queue({ kind: 'status', status: 401 }, 1);
    await aim.resolve(MPI_1);
    const auths = peers.aim.requests.map((r) => r.headers.authorization);
    assert.equal(auths.length, 2);
    assert.equal(auths[0], `Bearer ${before}`);
    assert.notEqual(auths[1], auths[0]);
  });

  for (const [status, words] of [[400, /malformed/], [403, /denied/], [500, /500/]] as const) {
    it(`turns ${status} into CARA_HTTP with statusCode and a clear message`, async () => {
      peers.aim.faults.queue({ kind: 'status', status }, 4);
      const err = await rejection(aim.resolve(MPI_1));
      assert.equal(err.code, 'CARA_HTTP');
      assert.equal(err.statusCode, status);
      assert.match(err.message, words);
      assert.doesNotMatch(err.message, /eyJ/);
      peers.aim.faults.clear();
    });
  }

  it('a second 401 is CARA_HTTP 401', async () => {
    peers.aim.faults.queue({ kind: 'status', status: 401 }, 2);
    const err = await rejection(aim.resolve(MPI_1));
    assert.equal(err.code, 'CARA_HTTP');
    assert.equal(err.statusCode, 401);
  });

  it('reports a body that is not JSON, or a bad URN, as CARA_BAD_RESPONSE', async () => {
    peers.aim.faults.queue({ kind: 'status', status: 200, body: '<html>maintenance</html>' }, 1);
    const notJson = await rejection(aim.resolve(MPI_1));
    assert.equal(notJson.code, 'CARA_BAD_RESPONSE');
    peers.aim.faults.queue({ kind: 'status', status: 200, body: { accountUrn: 'urn:cara:account:../../etc' } }, 1);
    assert.equal((await rejection(aim.resolve(MPI_1))).code, 'CARA_BAD_RESPONSE');
    peers.aim.faults.queue({ kind: 'status', status: 200, body: { something: 'else' } }, 1);
    assert.equal((await rejection(aim.resolve(MPI_1))).code, 'CARA_BAD_RESPONSE');
    // errors are not cached
    assert.equal((await aim.resolve(MPI_1)).cached, false);
  });

  it('scrubs the token from AIM answers passed on as err.outcome (an error, and a 200 without accountUrn)', async () => {
    const token = (await peers.tokens.get()).value;
    aim = new AimClient({ http: peers.http, aimUrl: peers.aim.origin, redact: (text) => text.split(token).join('[TOKEN]') });
    peers.aim.faults.queue({ kind: 'status', status: 403, body: { message: `denied for Bearer ${token}`, seen: token } }, 1);
    const denied = await rejection(aim.resolve(MPI_1));
    assert.equal(denied.statusCode, 403);
    assert.deepEqual(denied.outcome, { message: 'denied for Bearer [REDACTED]', seen: '[REDACTED]' });
    peers.aim.faults.queue({ kind: 'status', status: 200, body: { echo: { authorization: `Bearer ${token}` }, note: `got ${token}` } }, 1);
    const odd = await rejection(aim.resolve(MPI_1));
    assert.equal(odd.code, 'CARA_BAD_RESPONSE');
    assert.deepEqual(odd.outcome, { echo: { authorization: '[REDACTED]' }, note: 'got [TOKEN]' });
    assert.doesNotMatch(`${denied.message} ${odd.message} ${JSON.stringify([denied.outcome, odd.outcome])}`, new RegExp(token.slice(-24)));
  });

  it('times out (CARA_TIMEOUT) when AIM does not answer', async () => {
    const http = new AuthorizedHttp({ dispatcher: peers.agent, tokens: peers.tokens, allowedOrigins: [peers.aim.origin], timeoutMs: 200, retry: { maxRetries: 0 } });
    aim = new AimClient({ http, aimUrl: peers.aim.origin });
    peers.aim.faults.queue({ kind: 'delay', ms: 3_000 }, 1);
    const err = await rejection(aim.resolve(MPI_1));
    assert.equal(err.code, 'CARA_TIMEOUT');
    peers.aim.faults.releaseDelays();
  });
});
