import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { AIM_RESOLVE_PATH, startAim, type RunningAim } from '../sandbox/aim';
import { startIam, type IamClientRegistration, type RunningIam } from '../sandbox/iam';
import { createPki, type Pki } from '../sandbox/pki';
import { seedPatients } from '../sandbox/seed';

const RESOLVER: IamClientRegistration = {
  clientId: 'tcu-bestclinic/scp-importer',
  certificateCommonName: 'tcu-bestclinic-scp-importer',
  scopes: ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'],
};
const KNOWN = seedPatients[0];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

describe('sandbox AIM (account resolution over mTLS + bearer)', function () {
  let pki: Pki;
  let iam: RunningIam;
  let aim: RunningAim;
  let agent: Agent;
  let token: string;
  let scpOnlyToken: string;

  async function tokenFor(scope: string): Promise<string> {
    const clientAgent = new Agent({ connect: { ca: pki.ca.certPem, ...pki.client(RESOLVER.certificateCommonName) } });
    try {
      const res = await request(iam.tokenEndpoint, {
        method: 'POST',
        dispatcher: clientAgent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: RESOLVER.clientId, scope }).toString(),
      });
      const body = (await res.body.json()) as { access_token?: string };
      assert.equal(res.statusCode, 200, JSON.stringify(body));
      return body.access_token as string;
    } finally {
      await clientAgent.close();
    }
  }

  async function resolve(body: unknown, o: { token?: string | null; method?: string; path?: string } = {}): Promise<Answer> {
    const bearer = o.token === undefined ? token : o.token;
    const res = await request(`${aim.origin}${o.path ?? AIM_RESOLVE_PATH}`, {
      method: (o.method ?? 'POST') as 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  before(async function () {
    pki = createPki();
    iam = await startIam({ pki, clients: [RESOLVER] });
    aim = await startAim({ pki, iam, patients: Object.fromEntries(seedPatients.map((p) => [p.mpiIdUrn, p.accountUrn])) });
    agent = new Agent({ connect: { ca: pki.ca.certPem, ...pki.client('aim-test-client') } });
    [token, scpOnlyToken] = await Promise.all([tokenFor('ns:cara:authx.Reader'), tokenFor('ns:cara:scp.Contributor')]);
  });

  after(async function () {
    await agent?.close();
    await aim?.stop();
    await iam?.stop();
  });

  beforeEach(function () {
    aim.faults.clear();
  });

  it('resolves a known MPI-ID URN to its Account URN', async function () {
    const answer = await resolve({ mpiIdUrn: KNOWN.mpiIdUrn });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json, { accountUrn: KNOWN.accountUrn });
  });

  it('answers 404 with a JSON error for an unknown patient', async function () {
    const answer = await resolve({ mpiIdUrn: 'urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1/00000000-0000-0000-0000-000000000000' });
    assert.equal(answer.status, 404);
    assert.equal(answer.json.status, 404);
    assert.match(String(answer.json.message), /No account/);
  });

  it('answers 400 with a JSON error for a malformed MPI-ID or body', async function () {
    for (const body of [
      { mpiIdUrn: 'urn:cara:account:123' },
      { mpiIdUrn: 'urn:cara:mpi_id:not-an-oid/123' },
      { mpiIdUrn: 'urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1' },
      { mpi: KNOWN.mpiIdUrn },
      'not json',
    ]) {
      const answer = await resolve(body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.json.error, 'Bad Request');
    }
  });

  it('answers 401 with WWW-Authenticate: Bearer without a token or with a forged one', async function () {
    const missing = await resolve({ mpiIdUrn: KNOWN.mpiIdUrn }, { token: null });
    assert.equal(missing.status, 401);
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/);

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await new SignJWT({ scope: 'ns:cara:authx.Reader' })
      .setProtectedHeader({ alg: 'RS256', kid: 'forged' })
      .setIssuer(iam.issuer)
      .setExpirationTime('5m')
      .sign(privateKey);
    const invalid = await resolve({ mpiIdUrn: KNOWN.mpiIdUrn }, { token: forged });
    assert.equal(invalid.status, 401);
    assert.match(String(invalid.headers['www-authenticate']), /^Bearer error="invalid_token"/);
  });

  it('answers 403 to a token without an authx scope', async function () {
    const answer = await resolve({ mpiIdUrn: KNOWN.mpiIdUrn }, { token: scpOnlyToken });
    assert.equal(answer.status, 403);
    assert.match(String(answer.headers['www-authenticate']), /insufficient_scope/);
  });

  it('answers 404 to another path and 405 to another method', async function () {
    assert.equal((await resolve({}, { path: '/api/v1/other' })).status, 404);
    assert.equal((await resolve({ mpiIdUrn: KNOWN.mpiIdUrn }, { method: 'PUT' })).status, 405);
  });

  it('records every request with its headers and body, and counts them', async function () {
    const before = aim.requestCount;
    await resolve({ mpiIdUrn: KNOWN.mpiIdUrn });
    assert.equal(aim.requestCount, before + 1);
    const recorded = aim.requests.at(-1);
    assert.equal(recorded?.method, 'POST');
    assert.equal(recorded?.path, AIM_RESOLVE_PATH);
    assert.equal(recorded?.headers.authorization, `Bearer ${token}`);
    assert.deepEqual(JSON.parse(recorded?.body ?? '{}'), { mpiIdUrn: KNOWN.mpiIdUrn });
  });

  it('applies a queued 429 with Retry-After once, then answers normally', async function () {
    aim.faults.queue({ kind: 'status', status: 429, retryAfterSeconds: 1 });
    const limited = await resolve({ mpiIdUrn: KNOWN.mpiIdUrn });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '1');
    assert.equal((await resolve({ mpiIdUrn: KNOWN.mpiIdUrn })).status, 200);
  });

  it('drops the connection on a queued drop fault', async function () {
    aim.faults.queue({ kind: 'drop' });
    await assert.rejects(resolve({ mpiIdUrn: KNOWN.mpiIdUrn }));
    assert.equal((await resolve({ mpiIdUrn: KNOWN.mpiIdUrn })).status, 200);
  });

  it('refuses a TLS client without a certificate of the sandbox CA', async function () {
    const foreign = createPki();
    const stranger = new Agent({ connect: { ca: pki.ca.certPem, ...foreign.client('stranger') } });
    try {
      await assert.rejects(request(`${aim.origin}${AIM_RESOLVE_PATH}`, { method: 'POST', dispatcher: stranger, body: '{}' }));
    } finally {
      await stranger.close();
    }
  });
});
