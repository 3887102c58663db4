/**
 * ITI-103 discovery against the sandbox IAM (real oidc-provider, real mTLS), serving its
 * metadata at one location or another, with mTLS aliases, or lying about its issuer.
 */
import { strict as assert } from 'node:assert';
import type { Agent, Dispatcher } from 'undici';
import { Discovery, discoveryLocations, type DiscoveryOptions } from '../src/discovery';
import { CaraError } from '../src/errors';
import { createAgent, loadClientTls } from '../src/tls';
import { TokenManager } from '../src/token';
import { createPki, type Pki } from '../sandbox/pki';
import { startIam, type IamOptions, type RunningIam } from '../sandbox/iam';

const CLIENT_ID = 'tcu-bestclinic/scp-importer';
const CN = 'scp-importer';

describe('Discovery (ITI-103) against the sandbox IAM', function () {
  this.timeout(15_000);
  let pki: Pki;
  let agent: Agent;
  const running: RunningIam[] = [];
  const managers: TokenManager[] = [];

  /** Paths of the requests sent (what the IAM saw), to prove what was and was not fetched. */
  let requests: string[];
  let dispatcher: Dispatcher;

  async function iamWith(options: Partial<IamOptions>): Promise<RunningIam> {
    const iam = await startIam({ pki, clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: ['ns:cara:scp.Contributor'] }], ...options });
    running.push(iam);
    return iam;
  }

  function discovery(options: Partial<DiscoveryOptions>): Discovery {
    return new Discovery({ dispatcher, timeoutMs: 5_000, ...options });
  }

  /** A token obtained through the discovered endpoint proves the endpoint is the working one. */
  async function tokenVia(found: Discovery): Promise<void> {
    const tokens = new TokenManager({ dispatcher, clientId: CLIENT_ID, tokenEndpoint: () => found.tokenEndpoint(), timeoutMs: 5_000 });
    managers.push(tokens);
    const token = await tokens.get();
    assert.equal(token.tokenType, 'Bearer');
  }

  before(async function () {
    pki = createPki();
    const tls = await loadClientTls({ certificate: { type: 'pem', cert: pki.client(CN).certPem, key: pki.client(CN).keyPem }, extraCa: [pki.ca.certPem] });
    agent = createAgent(tls, { connectTimeoutMs: 5_000 });
  });

  beforeEach(function () {
    requests = [];
    dispatcher = agent.compose((dispatch) => (opts, handler) => {
      requests.push(`${opts.method} ${opts.path}`);
      return dispatch(opts, handler);
    });
  });

  afterEach(async function () {
    for (const tokens of managers.splice(0)) tokens.close();
    await Promise.all(running.splice(0).map((iam) => iam.stop()));
  });

  after(async function () {
    await agent.destroy();
  });

  it('lists the RFC 8414, realm and OpenID locations in that order', function () {
    assert.deepEqual(
      discoveryLocations('https://iam.cara.ch/realms/cara').map((l) => [l.source, l.url.href]),
      [
        ['rfc8414', 'https://iam.cara.ch/.well-known/oauth-authorization-server/realms/cara'],
        ['realm', 'https://iam.cara.ch/realms/cara/.well-known/oauth-authorization-server'],
        ['openid', 'https://iam.cara.ch/realms/cara/.well-known/openid-configuration'],
      ],
    );
    // an issuer without a path has the RFC 8414 and realm locations in common
    assert.equal(discoveryLocations('https://iam.example/').length, 2);
  });

  for (const kind of ['rfc8414', 'realm', 'openid'] as const) {
    it(`finds the endpoints when only the ${kind} document is served`, async function () {
      const iam = await iamWith({ discovery: { rfc8414: kind === 'rfc8414', realm: kind === 'realm', openid: kind === 'openid' } });
      const found = await discovery({ issuer: iam.issuer }).endpoints();
      assert.deepEqual(found, {
        issuer: iam.issuer,
        tokenEndpoint: iam.tokenEndpoint,
        introspectionEndpoint: iam.introspectionEndpoint,
        jwksUri: iam.jwksUri,
        source: kind,
      });
    });
  }

  it('discovers once for concurrent callers and caches the result', async function () {
    const iam = await iamWith({});
    const found = discovery({ issuer: iam.issuer });
    const results = await Promise.all(Array.from({ length: 10 }, () => found.endpoints()));
    assert.ok(results.every((r) => r.source === 'rfc8414'));
    await found.endpoints();
    assert.deepEqual(requests, ['GET /.well-known/oauth-authorization-server/realms/cara']);
    await tokenVia(found);
  });

  it('uses the mtls_endpoint_aliases (the plain endpoints answer 404 here)', async function () {
    const iam = await iamWith({ mtlsEndpointAliases: true });
    const found = discovery({ issuer: iam.issuer });
    const endpoints = await found.endpoints();
    assert.equal(endpoints.tokenEndpoint, iam.tokenEndpoint);
    assert.equal(endpoints.introspectionEndpoint, iam.introspectionEndpoint);
    await tokenVia(found);
  });

  it('rejects a document whose issuer is not the one asked for, and tries again on the next call', async function () {
    const iam = await iamWith({ advertisedIssuer: 'https://iam.elsewhere.example/realms/cara' });
    const found = discovery({ issuer: iam.issuer });
    for (let attempt = 1; attempt <= 2; attempt++) {
      await assert.rejects(found.endpoints(), (err: unknown) => {
        assert.ok(err instanceof CaraError);
        assert.equal(err.code, 'CARA_DISCOVERY');
        assert.match(err.message, /"https:\/\/iam\.elsewhere\.example\/realms\/cara"/);
        assert.ok(err.message.includes(`expected "${iam.issuer}"`));
        return true;
      });
    }
    assert.equal(requests.length, 2, 'no fallback to other locations or defaults');
    // the token manager reports it and sends no token request
    const tokens = new TokenManager({ dispatcher, clientId: CLIENT_ID, tokenEndpoint: () => found.tokenEndpoint(), timeoutMs: 5_000 });
    managers.push(tokens);
    await assert.rejects(tokens.get(), { code: 'CARA_DISCOVERY' });
    assert.equal(iam.tokenRequestCount, 0);
  });

  it('lets explicitly configured endpoints win over the document', async function () {
    const iam = await iamWith({ mtlsEndpointAliases: true });
    const explicitIntrospection = `${iam.issuer}/custom/introspect`;
    const found = discovery({ issuer: iam.issuer, tokenEndpoint: iam.tokenEndpoint, introspectionEndpoint: explicitIntrospection });
    assert.equal(await found.tokenEndpoint(), iam.tokenEndpoint);
    assert.deepEqual(requests, [], 'the configured token endpoint needs no discovery');
    const endpoints = await found.endpoints();
    assert.equal(endpoints.introspectionEndpoint, explicitIntrospection);
    assert.equal(endpoints.jwksUri, iam.jwksUri);
    assert.equal(endpoints.source, 'rfc8414');
  });

  it("falls back to Keycloak's default paths when no document exists, and remembers that", async function () {
    const iam = await iamWith({ discovery: { rfc8414: false, realm: false, openid: false } });
    const found = discovery({ issuer: iam.issuer });
    const endpoints = await found.endpoints();
    assert.deepEqual(endpoints, {
      issuer: iam.issuer,
      tokenEndpoint: iam.tokenEndpoint,
      introspectionEndpoint: iam.introspectionEndpoint,
      jwksUri: iam.jwksUri,
      source: 'keycloak-defaults',
    });
    assert.equal(requests.length, 3);
    await found.endpoints();
    assert.equal(requests.length, 3);
    await tokenVia(found);
  });

  it('falls back to the defaults while the IAM is unreachable, without remembering it', async function () {
    const iam = await iamWith({});
    const issuer = iam.issuer;
    await Promise.all(running.splice(0).map((r) => r.stop()));
    const found = discovery({ issuer });
    assert.equal((await found.endpoints()).source, 'keycloak-defaults');
    assert.equal(requests.length, 1, 'one unreachable location is enough: they share the host');
    await found.endpoints();
    assert.equal(requests.length, 2, 'looked again');
  });

  it('does not discover when only a token endpoint is configured, and derives the rest from its Keycloak path', async function () {
    const iam = await iamWith({});
    const found = discovery({ tokenEndpoint: iam.tokenEndpoint });
    assert.deepEqual(await found.endpoints(), {
      issuer: iam.issuer,
      tokenEndpoint: iam.tokenEndpoint,
      introspectionEndpoint: iam.introspectionEndpoint,
      jwksUri: iam.jwksUri,
      source: 'configured',
    });
    await tokenVia(found);
    assert.ok(requests.every((r) => r.startsWith('POST')), `requests: ${requests.join(', ')}`);
  });
});
