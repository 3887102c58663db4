/**
 * ITI-102 introspection, local JWT verification and the composed CaraClient, against the
 * sandbox IAM (real oidc-provider over real mTLS).
 */
import { strict as assert } from 'node:assert';
import type { Agent } from 'undici';
import { createCaraClient, ENVIRONMENTS, type CaraClient, type CaraClientSettings } from '../src/client';
import { Discovery } from '../src/discovery';
import { CaraError } from '../src/errors';
import { introspectToken } from '../src/introspect';
import { createAgent, loadClientTls } from '../src/tls';
import { TokenVerifier } from '../src/verify';
import { createPki, type ClientIdentity, type Pki } from '../sandbox/pki';
import { startIam, type RunningIam } from '../sandbox/iam';
import { startAim } from '../sandbox/aim';

const CLIENT_ID = 'tcu-bestclinic/scp-importer';
const CN = 'scp-importer';
const SCOPE = 'ns:cara:authx.Reader ns:cara:scp.Contributor';
const ACCOUNT = 'urn:cara:account:bestclinic/scp-importer';

const messages: string[] = [];
const tokensSeen = new Set<string>();

function caraError(err: unknown, code: string): CaraError {
  assert.ok(err instanceof CaraError, `expected a CaraError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  messages.push(err.message);
  return err;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

/** Changes one character in the middle of the signature (the last one may carry padding bits only). */
function tamperSignature(jwt: string): string {
  const [header, payload, signature] = jwt.split('.');
  const i = Math.floor(signature.length / 2);
  const flipped = signature[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload}.${signature.slice(0, i)}${flipped}${signature.slice(i + 1)}`;
}

describe('introspection, verification and the CaraClient against the sandbox IAM', function () {
  this.timeout(15_000);
  let pki: Pki;
  let identity: ClientIdentity;
  let iam: RunningIam;
  let client: CaraClient;
  let token: string;

  function settings(overrides: Partial<CaraClientSettings> = {}): CaraClientSettings {
    return {
      clientId: CLIENT_ID,
      scope: SCOPE,
      issuer: iam.issuer,
      aimUrl: 'https://localhost:1/',
      fhirBaseUrl: 'https://localhost:2/fhir',
      tls: {
        certificate: { type: 'pem', cert: identity.certPem, key: identity.encryptedKeyPem, passphrase: identity.passphrase },
        extraCa: [pki.ca.certPem],
      },
      timeoutMs: 5_000,
      ...overrides,
    };
  }

  before(async function () {
    pki = createPki();
    identity = pki.client(CN);
    iam = await startIam({ pki, clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: SCOPE.split(' '), accountUrn: ACCOUNT }] });
    client = await createCaraClient(settings());
    token = (await client.tokens.get()).value;
    tokensSeen.add(token);
  });

  after(async function () {
    await client.close();
    await iam.stop();
  });

  describe('introspection (ITI-102)', function () {
    it('reports the current token active, with its client, scope, expiry and CARA claims', async function () {
      const result = await client.introspect();
      assert.equal(result.active, true);
      assert.equal(result.clientId, CLIENT_ID);
      assert.equal(typeof result.exp, 'number');
      assert.ok(String(result.scope).split(' ').includes('ns:cara:scp.Contributor'));
      assert.equal(result['cara:accountUrn'], ACCOUNT);
      assert.equal(result.iss, iam.issuer);
    });

    it('reports a tampered token and an unknown one as {active:false} and nothing else', async function () {
      assert.deepEqual(await client.introspect(tamperSignature(token)), { active: false });
      assert.deepEqual(await client.introspect('not-a-token-the-iam-ever-issued'), { active: false });
    });

    it('reports a caller without certificate as invalid_client', async function () {
      const anonymous = createAgent(await loadClientTls({ extraCa: [pki.ca.certPem] }), { connectTimeoutMs: 5_000 });
      try {
        const err = caraError(
          await failure(introspectToken({ dispatcher: anonymous, endpoint: iam.introspectionEndpoint, clientId: CLIENT_ID, token, timeoutMs: 5_000 })),
          'CARA_OAUTH',
        );
        assert.equal(err.oauthError, 'invalid_client');
        assert.equal(err.statusCode, 401);
      } finally {
        await anonymous.destroy();
      }
    });
  });

  describe('local verification against the JWKS', function () {
    let agent: Agent;
    let jwksFetches: number;
    let verifier: (now?: () => number) => TokenVerifier;

    before(async function () {
      agent = createAgent(await loadClientTls({ certificate: { type: 'pem', cert: identity.certPem, key: identity.keyPem }, extraCa: [pki.ca.certPem] }), {
        connectTimeoutMs: 5_000,
      });
      const counting = agent.compose((dispatch) => (opts, handler) => {
        if (String(opts.path).endsWith('/certs')) jwksFetches++;
        return dispatch(opts, handler);
      });
      const discovery = new Discovery({ dispatcher: counting, timeoutMs: 5_000, issuer: iam.issuer });
      verifier = (now) => new TokenVerifier({ dispatcher: counting, timeoutMs: 5_000, endpoints: () => discovery.endpoints(), now });
    });

    beforeEach(function () {
      jwksFetches = 0;
    });

    after(async function () {
      await agent.destroy();
    });

    it('verifies a token of the IAM: signature, issuer, expiry', async function () {
      const verified = await client.verify();
      assert.equal(verified.claims.iss, iam.issuer);
      assert.equal(verified.claims.azp, CLIENT_ID);
      assert.equal(verified.protectedHeader.alg, 'RS256');
      assert.equal(typeof verified.protectedHeader.kid, 'string');
      // the key set is fetched once and reused
      const own = verifier();
      await own.verify(token);
      await own.verify(token);
      assert.equal(jwksFetches, 1);
    });

    it('rejects a tampered signature', async function () {
      const err = caraError(await failure(client.verify(tamperSignature(token))), 'CARA_TOKEN_INVALID');
      assert.match(err.message, /signature invalid/);
    });

    it('rejects an expired token, after the clock tolerance (30 s) only', async function () {
      const exp = (await client.tokens.get()).expiresAt;
      await verifier(() => exp + 20_000).verify(token);
      const err = caraError(await failure(verifier(() => exp + 40_000).verify(token)), 'CARA_TOKEN_INVALID');
      assert.match(err.message, /expired at \d{4}-/);
    });

    it('rejects a token of another issuer (same signing key, other IAM address)', async function () {
      const other = await startIam({ pki, clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: ['ns:cara:scp.Contributor'] }] });
      try {
        const otherClient = await createCaraClient(settings({ issuer: other.issuer, scope: undefined }));
        const foreign = (await otherClient.tokens.get()).value;
        tokensSeen.add(foreign);
        await otherClient.close();
        const err = caraError(await failure(client.verify(foreign)), 'CARA_TOKEN_INVALID');
        assert.match(err.message, /issuer mismatch/);
        assert.ok(err.message.includes(`"${other.issuer}"`) && err.message.includes(`expected "${iam.issuer}"`));
      } finally {
        await other.stop();
      }
    });

    it('rejects a token signed by an unknown key, fetching the JWKS again once (key rotation)', async function () {
      const otherPki = createPki();
      const other = await startIam({ pki: otherPki, clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: ['ns:cara:scp.Contributor'] }] });
      try {
        const otherIdentity = otherPki.client(CN);
        const otherClient = await createCaraClient(
          settings({ issuer: other.issuer, scope: undefined, tls: { certificate: { type: 'pem', cert: otherIdentity.certPem, key: otherIdentity.keyPem }, extraCa: [otherPki.ca.certPem] } }),
        );
        const foreign = (await otherClient.tokens.get()).value;
        tokensSeen.add(foreign);
        await otherClient.close();
        let offsetMs = 0;
        const own = verifier(() => Date.now() + offsetMs);
        const err = caraError(await failure(own.verify(foreign)), 'CARA_TOKEN_INVALID');
        assert.match(err.message, /kid/);
        assert.equal(jwksFetches, 1, 'the first fetch is fresh: no second one');
        // within the cooldown (30 s) an unknown kid triggers no other fetch...
        caraError(await failure(own.verify(foreign)), 'CARA_TOKEN_INVALID');
        await own.verify(token);
        assert.equal(jwksFetches, 1);
        // ...after it, it does (the IAM may have rotated its keys), once
        offsetMs = 31_000;
        caraError(await failure(own.verify(foreign)), 'CARA_TOKEN_INVALID');
        assert.equal(jwksFetches, 2);
        await own.verify(token);
        assert.equal(jwksFetches, 2, 'known kids use the cached set');
      } finally {
        await other.stop();
      }
    });

    it('rejects what is not a JWT', async function () {
      const err = caraError(await failure(client.verify('opaque-value-1234567')), 'CARA_TOKEN_INVALID');
      assert.match(err.message, /not a well-formed signed JWT/);
    });
  });

  describe('the composed CaraClient', function () {
    it('obtains tokens through discovery and scrubs the token and the passphrase from text', async function () {
      const text = `token ${token} passphrase ${identity.passphrase}`;
      const scrubbed = client.redact(text);
      assert.ok(!scrubbed.includes(token));
      assert.ok(!scrubbed.includes(identity.passphrase));
      assert.equal(client.certificate?.fingerprint256, identity.fingerprint256);
    });

    it('resolves an account at AIM with the token it obtained (ITI-72)', async function () {
      const mpiIdUrn = 'urn:cara:mpi_id:1.1.1.99.1/e2d9dbec-9f49-4944-8b6b-790e88d2bd0f';
      const aim = await startAim({ pki, iam, patients: { [mpiIdUrn]: 'urn:cara:account:19776259-4d3e-4a1d-85e3-f1c6e48ec7f1' } });
      const withAim = await createCaraClient(settings({ aimUrl: aim.origin }));
      try {
        const resolved = await withAim.aim.resolve(mpiIdUrn);
        assert.equal(resolved.partition, '19776259-4d3e-4a1d-85e3-f1c6e48ec7f1');
        const current = withAim.tokens.current;
        assert.ok(current);
        tokensSeen.add(current.value);
        assert.equal(aim.requests.length, 1);
        assert.equal(aim.requests[0].headers.authorization, `Bearer ${current.value}`);
      } finally {
        await withAim.close();
        await aim.stop();
      }
    });

    it('refuses unusable settings with CARA_CONFIG naming the setting', async function () {
      const cases: Array<[Partial<CaraClientSettings>, string]> = [
        [{ clientId: ' ' }, 'clientId'],
        [{ issuer: 'http://iam.cara.ch/realms/cara' }, 'issuer'],
        [{ issuer: 'not a url' }, 'issuer'],
        [{ issuer: undefined, tokenEndpoint: undefined }, 'issuer'],
        [{ tokenEndpoint: 'https://user:pw@iam.cara.ch/token' }, 'tokenEndpoint'],
        [{ aimUrl: 'ftp://aim.cara.ch' }, 'aimUrl'],
        [{ fhirBaseUrl: 'http://localhost:8080/fhir' }, 'fhirBaseUrl'],
        [{ jwksUri: 'https://iam.cara.ch/certs?x=1' }, 'jwksUri'],
        [{ scope: 'ns:cara:scp.Contributor "quoted"' }, 'scope'],
        [{ timeoutMs: 0 }, 'timeoutMs'],
      ];
      for (const [overrides, property] of cases) {
        const err = caraError(await failure(createCaraClient(settings(overrides))), 'CARA_CONFIG');
        assert.equal(err.property, property, err.message);
        assert.ok(err.message.startsWith(property), err.message);
      }
    });

    it('reports a wrong passphrase at creation (CARA_CERTIFICATE), never echoing it', async function () {
      const wrong = 'wrong-passphrase-42';
      const err = caraError(
        await failure(createCaraClient(settings({ tls: { certificate: { type: 'pkcs12', pfx: identity.pfx, passphrase: wrong }, extraCa: [pki.ca.certPem] } }))),
        'CARA_CERTIFICATE',
      );
      assert.ok(!err.message.includes(wrong));
    });

    it('explains a missing AIM or FHIR URL when that client is used', async function () {
      const bare = await createCaraClient(settings({ aimUrl: undefined, fhirBaseUrl: '' }));
      try {
        assert.throws(() => bare.aim, { code: 'CARA_CONFIG', property: 'aimUrl' });
        assert.throws(() => bare.fhir, { code: 'CARA_CONFIG', property: 'fhirBaseUrl' });
      } finally {
        await bare.close();
      }
    });

    it('close() stops the token manager; closing twice is harmless', async function () {
      const closing = await createCaraClient(settings());
      tokensSeen.add((await closing.tokens.get()).value);
      await closing.close();
      await closing.close();
      caraError(await failure(closing.tokens.get()), 'CARA_CLOSED');
    });

    it('knows the platform URLs of each environment', function () {
      assert.equal(ENVIRONMENTS.production.issuer, 'https://iam.cara.ch/realms/cara');
      assert.equal(ENVIRONMENTS.validation.aimUrl, 'https://ws-authx-mtls-val.cara.ch');
      assert.equal(ENVIRONMENTS.integration.fhirBaseUrl, 'https://ws-fhir-mtls-int.cara.ch/fhir');
    });
  });

  describe('after all of the above', function () {
    it('never puts a token in an error message', function () {
      assert.ok(messages.length >= 15 && tokensSeen.size >= 3, `${messages.length} messages, ${tokensSeen.size} tokens`);
      for (const text of messages) {
        for (const value of tokensSeen) assert.ok(!text.includes(value), `token leaked into: ${text.slice(0, 80)}`);
        assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(text), `JWT-shaped value in: ${text.slice(0, 80)}`);
      }
    });
  });
});
