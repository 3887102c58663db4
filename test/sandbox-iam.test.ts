import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { Agent, request } from 'undici';
import { startIam, type IamClientRegistration, type IamOptions, type RunningIam } from '../sandbox/iam';
import { createPki, type Pki } from '../sandbox/pki';

const IMPORTER: IamClientRegistration = {
  clientId: 'tcu-bestclinic/scp-importer',
  certificateCommonName: 'tcu-bestclinic-scp-importer',
  scopes: ['ns:cara:scp.Contributor', 'ns:cara:authx.Reader'],
  accountUrn: 'urn:cara:account:bestclinic/scp-importer',
  orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178',
  eidUrn: 'urn:cara:eid:bestclinic',
};
const READER: IamClientRegistration = {
  clientId: 'tcu-reader',
  certificateCommonName: 'tcu-reader',
  scopes: ['ns:cara:authx.Reader'],
};

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

async function call(agent: Agent, url: string, form?: Record<string, string>): Promise<Answer> {
  const res = await request(url, {
    method: form ? 'POST' : 'GET',
    dispatcher: agent,
    headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
    body: form ? new URLSearchParams(form).toString() : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('sandbox IAM (oidc-provider on Keycloak layout, mTLS)', function () {
  let pki: Pki;
  let foreignPki: Pki;
  let iam: RunningIam;
  const agents: Agent[] = [];
  const iams: RunningIam[] = [];

  /** An undici Agent trusting the sandbox CA, with the given client identity (if any). */
  function agentFor(identity?: { certPem: string; keyPem: string }): Agent {
    const agent = new Agent({
      connect: { ca: pki.ca.certPem, ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}) },
    });
    agents.push(agent);
    return agent;
  }

  async function start(options: Partial<IamOptions> = {}): Promise<RunningIam> {
    const started = await startIam({ pki, clients: [IMPORTER, READER], ...options });
    iams.push(started);
    return started;
  }

  const importerAgent = () => agentFor(pki.client(IMPORTER.certificateCommonName));

  function askToken(agent: Agent, endpoint: string, extra: Record<string, string> = {}): Promise<Answer> {
    return call(agent, endpoint, { grant_type: 'client_credentials', client_id: IMPORTER.clientId, ...extra });
  }

  before(async function () {
    pki = createPki();
    foreignPki = createPki();
    iam = await start({ accessTokenTtlSeconds: 120 });
  });

  after(async function () {
    await Promise.all(iams.map((i) => i.stop()));
    await Promise.all(agents.map((a) => a.close()));
  });

  describe('token endpoint (ITI-71, client_credentials + tls_client_auth)', function () {
    it('issues a Keycloak-shaped RS256 JWT to a client id containing "/", with no secret', async function () {
      const answer = await askToken(importerAgent(), iam.tokenEndpoint, { scope: 'ns:cara:scp.Contributor ns:cara:authx.Reader' });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      const { access_token: accessToken, ...rest } = answer.json;
      assert.deepEqual(rest, {
        expires_in: 120,
        token_type: 'Bearer',
        scope: 'cara-platform ns:cara:authx.Reader ns:cara:scp.Contributor',
        refresh_expires_in: 0,
        'not-before-policy': 0,
      });
      assert.equal(typeof accessToken, 'string');
      const token = accessToken as string;

      const header = decodeProtectedHeader(token);
      assert.equal(header.alg, 'RS256');
      assert.equal(header.typ, 'JWT');
      assert.equal(header.kid, (iam.publicJwks().keys[0] as { kid: string }).kid);

      const claims = decodeJwt(token);
      assert.equal(claims.iss, iam.issuer);
      assert.equal(claims.sub, IMPORTER.clientId);
      assert.equal(claims.azp, IMPORTER.clientId);
      assert.equal(claims.typ, 'Bearer');
      assert.equal(claims.scope, 'cara-platform ns:cara:authx.Reader ns:cara:scp.Contributor');
      assert.equal(claims['cara:accountUrn'], IMPORTER.accountUrn);
      assert.equal(claims['cara:orgIdUrn'], IMPORTER.orgIdUrn);
      assert.equal(claims['cara:eidUrn'], IMPORTER.eidUrn);
      assert.deepEqual(claims['cara:roles'], ['TECHNICAL_USER']);
      assert.equal(typeof claims.jti, 'string');
      assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 120);
    });

    it('signs with the keys published at the JWKS endpoint and by publicJwks()', async function () {
      const answer = await askToken(importerAgent(), iam.tokenEndpoint);
      const jwks = await call(importerAgent(), iam.jwksUri);
      assert.equal(jwks.status, 200);
      const published = jwks.json as { keys: Array<Record<string, unknown>> };
      assert.deepEqual(
        published.keys.map((k) => k.kid),
        iam.publicJwks().keys.map((k) => (k as { kid: string }).kid),
      );
      assert.ok(published.keys.every((k) => k.d === undefined), 'no private key material is published');
      const { payload } = await jwtVerify(answer.json.access_token as string, createLocalJWKSet(iam.publicJwks() as JSONWebKeySet), {
        issuer: iam.issuer,
        algorithms: ['RS256'],
      });
      assert.equal(payload.azp, IMPORTER.clientId);
    });

    it('grants the registered scopes when no scope is asked (Keycloak default scopes)', async function () {
      const answer = await askToken(importerAgent(), iam.tokenEndpoint);
      assert.equal(answer.status, 200);
      assert.equal(answer.json.scope, 'cara-platform ns:cara:authx.Reader ns:cara:scp.Contributor');
      assert.equal(decodeJwt(answer.json.access_token as string).scope, answer.json.scope);
    });

    it('grants only the scope asked for', async function () {
      const answer = await askToken(importerAgent(), iam.tokenEndpoint, { scope: 'ns:cara:authx.Reader' });
      assert.equal(answer.status, 200);
      assert.equal(answer.json.scope, 'cara-platform ns:cara:authx.Reader');
    });

    it('answers 401 invalid_client without a client certificate', async function () {
      const answer = await askToken(agentFor(), iam.tokenEndpoint);
      assert.equal(answer.status, 401);
      assert.equal(answer.json.error, 'invalid_client');
    });

    it('answers 401 invalid_client for a certificate of a CA it does not know (same CN)', async function () {
      const answer = await askToken(agentFor(foreignPki.client(IMPORTER.certificateCommonName)), iam.tokenEndpoint);
      assert.equal(answer.status, 401);
      assert.equal(answer.json.error, 'invalid_client');
    });

    it("answers 401 invalid_client for a valid certificate whose CN is another client's", async function () {
      const answer = await askToken(agentFor(pki.client(READER.certificateCommonName)), iam.tokenEndpoint);
      assert.equal(answer.status, 401);
      assert.equal(answer.json.error, 'invalid_client');
    });

    it('answers 401 invalid_client for an expired certificate', async function () {
      const expired = pki.client(IMPORTER.certificateCommonName, {
        notBefore: new Date(Date.now() - 10 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      });
      const answer = await askToken(agentFor(expired), iam.tokenEndpoint);
      assert.equal(answer.status, 401);
      assert.equal(answer.json.error, 'invalid_client');
    });

    it('answers 401 invalid_client for an unknown client id', async function () {
      const answer = await askToken(importerAgent(), iam.tokenEndpoint, { client_id: 'tcu-nobody' });
      assert.equal(answer.status, 401);
      assert.equal(answer.json.error, 'invalid_client');
    });

    it('answers 400 invalid_scope for a scope the client is not registered for', async function () {
      for (const scope of ['ns:cara:bogus.Reader', 'ns:cara:authx.Reader ns:cara:nope.Contributor']) {
        const answer = await askToken(importerAgent(), iam.tokenEndpoint, { scope });
        assert.equal(answer.status, 400, scope);
        assert.equal(answer.json.error, 'invalid_scope', scope);
      }
      const reader = agentFor(pki.client(READER.certificateCommonName));
      const answer = await call(reader, iam.tokenEndpoint, {
        grant_type: 'client_credentials',
        client_id: READER.clientId,
        scope: 'ns:cara:scp.Contributor',
      });
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error, 'invalid_scope');
    });

    it('counts every token-endpoint POST, whatever its outcome', async function () {
      iam.resetCounters();
      assert.equal(iam.tokenRequestCount, 0);
      await askToken(importerAgent(), iam.tokenEndpoint);
      await askToken(agentFor(), iam.tokenEndpoint);
      await call(importerAgent(), iam.jwksUri);
      assert.equal(iam.tokenRequestCount, 2);
      iam.resetCounters();
      assert.equal(iam.tokenRequestCount, 0);
    });
  });

  describe('introspection (ITI-102, RFC 7662)', function () {
    it('reports an issued token as active with its claims', async function () {
      const agent = importerAgent();
      const token = (await askToken(agent, iam.tokenEndpoint, { scope: 'ns:cara:scp.Contributor' })).json.access_token as string;
      const answer = await call(agent, iam.introspectionEndpoint, { token, client_id: IMPORTER.clientId });
      assert.equal(answer.status, 200);
      assert.equal(answer.json.active, true);
      assert.equal(answer.json.client_id, IMPORTER.clientId);
      assert.equal(answer.json.scope, 'cara-platform ns:cara:scp.Contributor');
      assert.equal(answer.json.token_type, 'Bearer');
      assert.equal(answer.json.iss, iam.issuer);
      assert.equal(answer.json.sub, IMPORTER.clientId);
      assert.equal(answer.json['cara:accountUrn'], IMPORTER.accountUrn);
      assert.equal(typeof answer.json.exp, 'number');
      assert.equal(typeof answer.json.iat, 'number');
    });

    it('reports garbage and tokens signed by another key as {active:false} and nothing else', async function () {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = await new SignJWT({ scope: 'cara-platform', azp: IMPORTER.clientId })
        .setProtectedHeader({ alg: 'RS256', kid: (iam.publicJwks().keys[0] as { kid: string }).kid })
        .setIssuer(iam.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      const agent = importerAgent();
      for (const token of ['not-a-jwt', forged]) {
        const answer = await call(agent, iam.introspectionEndpoint, { token, client_id: IMPORTER.clientId });
        assert.equal(answer.status, 200);
        assert.deepEqual(answer.json, { active: false });
      }
    });

    it('answers 401 invalid_client to a caller without certificate, with a foreign one, or without client_id', async function () {
      const token = (await askToken(importerAgent(), iam.tokenEndpoint)).json.access_token as string;
      const attempts: Array<[Agent, Record<string, string>]> = [
        [agentFor(), { token, client_id: IMPORTER.clientId }],
        [agentFor(foreignPki.client(IMPORTER.certificateCommonName)), { token, client_id: IMPORTER.clientId }],
        [importerAgent(), { token }],
        [agentFor(pki.client(READER.certificateCommonName)), { token, client_id: IMPORTER.clientId }],
      ];
      for (const [agent, form] of attempts) {
        const answer = await call(agent, iam.introspectionEndpoint, form);
        assert.equal(answer.status, 401);
        assert.equal(answer.json.error, 'invalid_client');
        assert.equal(answer.json.active, undefined);
      }
    });
  });

  describe('metadata (ITI-103)', function () {
    const documents = {
      rfc8414: (i: RunningIam) => `${i.origin}/.well-known/oauth-authorization-server/realms/cara`,
      realm: (i: RunningIam) => `${i.issuer}/.well-known/oauth-authorization-server`,
      openid: (i: RunningIam) => `${i.issuer}/.well-known/openid-configuration`,
    };

    for (const [kind, urlOf] of Object.entries(documents)) {
      it(`serves the ${kind} document with the issuer and Keycloak's endpoints`, async function () {
        const answer = await call(agentFor(), urlOf(iam));
        assert.equal(answer.status, 200);
        assert.equal(answer.json.issuer, iam.issuer);
        assert.equal(answer.json.token_endpoint, iam.tokenEndpoint);
        assert.equal(answer.json.introspection_endpoint, iam.introspectionEndpoint);
        assert.equal(answer.json.jwks_uri, iam.jwksUri);
        assert.deepEqual(answer.json.grant_types_supported, ['client_credentials']);
        assert.ok((answer.json.token_endpoint_auth_methods_supported as string[]).includes('tls_client_auth'));
        assert.equal(answer.json.tls_client_certificate_bound_access_tokens, false);
        assert.equal(answer.json.mtls_endpoint_aliases, undefined);
      });
    }

    it('serves only the documents asked for, and the advertised issuer when told to lie', async function () {
      const other = await start({ discovery: { rfc8414: false, openid: false }, advertisedIssuer: 'https://evil.example/realms/cara' });
      const agent = agentFor();
      assert.equal((await call(agent, documents.rfc8414(other))).status, 404);
      assert.equal((await call(agent, documents.openid(other))).status, 404);
      const realm = await call(agent, documents.realm(other));
      assert.equal(realm.status, 200);
      assert.equal(realm.json.issuer, 'https://evil.example/realms/cara');
      assert.equal(realm.json.token_endpoint, other.tokenEndpoint);
    });

    it('in aliases mode, only the mtls_endpoint_aliases work', async function () {
      const aliased = await start({ mtlsEndpointAliases: true });
      const metadata = (await call(agentFor(), documents.rfc8414(aliased))).json;
      const aliases = metadata.mtls_endpoint_aliases as Record<string, string>;
      assert.deepEqual(aliases, { token_endpoint: aliased.tokenEndpoint, introspection_endpoint: aliased.introspectionEndpoint });
      assert.notEqual(metadata.token_endpoint, aliased.tokenEndpoint);
      assert.notEqual(metadata.introspection_endpoint, aliased.introspectionEndpoint);

      const agent = importerAgent();
      aliased.resetCounters();
      const plain = await askToken(agent, metadata.token_endpoint as string);
      assert.equal(plain.status, 404);
      const viaAlias = await askToken(agent, aliases.token_endpoint);
      assert.equal(viaAlias.status, 200);
      assert.equal(aliased.tokenRequestCount, 2);

      const token = viaAlias.json.access_token as string;
      const plainIntrospection = await call(agent, metadata.introspection_endpoint as string, { token, client_id: IMPORTER.clientId });
      assert.equal(plainIntrospection.status, 404);
      const aliasIntrospection = await call(agent, aliases.introspection_endpoint, { token, client_id: IMPORTER.clientId });
      assert.equal(aliasIntrospection.json.active, true);
    });
  });

  it('stop() frees the port: a restart on the same port serves again and knows its earlier tokens', async function () {
    const first = await start();
    const token = (await askToken(importerAgent(), first.tokenEndpoint)).json.access_token as string;
    const keepAlive = importerAgent(); // holds an open connection across the restart
    assert.equal((await call(keepAlive, first.jwksUri)).status, 200);
    await first.stop();
    await assert.rejects(call(agentFor(), first.jwksUri));

    const second = await start({ port: first.port });
    assert.equal(second.port, first.port);
    assert.equal(second.issuer, first.issuer);
    const answer = await askToken(keepAlive, second.tokenEndpoint);
    assert.equal(answer.status, 200);
    const introspection = await call(keepAlive, second.introspectionEndpoint, { token, client_id: IMPORTER.clientId });
    assert.equal(introspection.json.active, true);
  });
});
