/**
 * TokenManager (ITI-71) against the sandbox IAM: a real oidc-provider over real mTLS.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair } from 'jose';
import type { Agent, Dispatcher } from 'undici';
import { CaraError } from '../src/errors';
import { createAgent, loadClientTls } from '../src/tls';
import { TokenManager, renewalDelayMs, type AccessToken, type Clock, type TokenManagerOptions, type TokenState } from '../src/token';
import { createPki, type ClientIdentity, type Pki } from '../sandbox/pki';
import { startIam, type RunningIam } from '../sandbox/iam';

const CLIENT_ID = 'tcu-bestclinic/scp-importer';
const CN = 'scp-importer';
const SCOPES = ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'];
const ACCOUNT = 'urn:cara:account:bestclinic/scp-importer';

/** Everything the manager ever told the outside world, checked for token values at the end. */
const published: string[] = [];
const issuedTokens = new Set<string>();

function expectCaraError(err: unknown, code: string): CaraError {
  assert.ok(err instanceof CaraError, `expected a CaraError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  published.push(err.message);
  return err;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

/** Records the form body of every request sent through the agent (what the IAM received). */
function recording(agent: Agent, bodies: string[]): Dispatcher {
  return agent.compose((dispatch) => (opts, handler) => {
    if (typeof opts.body === 'string') bodies.push(opts.body);
    return dispatch(opts, handler);
  });
}

function nextState(tokens: TokenManager, wanted: TokenState['state']): Promise<TokenState> {
  return new Promise((resolve) => {
    const listener = (state: TokenState): void => {
      if (state.state !== wanted) return;
      tokens.off('state', listener);
      resolve(state);
    };
    tokens.on('state', listener);
  });
}

describe('TokenManager (ITI-71) against the sandbox IAM over mTLS', function () {
  this.timeout(15_000);
  let pki: Pki;
  let identity: ClientIdentity;
  let iam: RunningIam;
  let agent: Agent;
  const managers: TokenManager[] = [];
  const agents: Agent[] = [];

  async function agentFor(certificate?: ClientIdentity): Promise<Agent> {
    const tls = await loadClientTls({
      certificate: certificate ? { type: 'pem', cert: certificate.certPem, key: certificate.keyPem } : undefined,
      extraCa: [pki.ca.certPem],
    });
    const created = createAgent(tls, { connectTimeoutMs: 5_000 });
    agents.push(created);
    return created;
  }

  function manager(options: Partial<TokenManagerOptions> & { dispatcher?: Dispatcher } = {}): TokenManager {
    const tokens = new TokenManager({
      dispatcher: agent,
      clientId: CLIENT_ID,
      scope: SCOPES.join(' '),
      tokenEndpoint: iam.tokenEndpoint,
      timeoutMs: 5_000,
      ...options,
    });
    tokens.on('state', (state: TokenState) => {
      if (state.state === 'failing') published.push(state.reason);
    });
    managers.push(tokens);
    return tokens;
  }

  function remember(token: AccessToken): AccessToken {
    issuedTokens.add(token.value);
    return token;
  }

  before(async function () {
    pki = createPki();
    identity = pki.client(CN);
    iam = await startIam({
      pki,
      clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: SCOPES, accountUrn: ACCOUNT, orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178' }],
    });
    agent = await agentFor(identity);
  });

  afterEach(function () {
    for (const tokens of managers.splice(0)) tokens.close();
    iam.resetCounters();
  });

  after(async function () {
    await iam.stop();
    await Promise.all(agents.map((a) => a.destroy()));
  });

  it('obtains a Bearer token for a client id containing "/", with decoded claims and the granted scope', async function () {
    const bodies: string[] = [];
    const tokens = manager({ dispatcher: recording(agent, bodies) });
    const token = remember(await tokens.get());
    assert.equal(token.tokenType, 'Bearer');
    assert.equal(token.expiresAt - token.obtainedAt, 300_000);
    assert.equal(token.claims?.azp, CLIENT_ID);
    assert.equal(token.claims?.iss, iam.issuer);
    assert.equal(token.claims?.['cara:accountUrn'], ACCOUNT);
    assert.deepEqual(token.claims?.['cara:roles'], ['TECHNICAL_USER']);
    assert.deepEqual(token.scope?.split(' ').sort(), ['cara-platform', ...SCOPES].sort());
    assert.deepEqual(tokens.state, { state: 'ok', expiresAt: token.expiresAt });
    assert.equal(bodies.length, 1);
    const form = new URLSearchParams(bodies[0]);
    assert.match(bodies[0], /client_id=tcu-bestclinic%2Fscp-importer/);
    assert.deepEqual([...form.keys()].sort(), ['client_id', 'grant_type', 'scope']);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(form.get('scope'), SCOPES.join(' '));
  });

  it('sends no scope parameter when none is configured, and reports what the IAM granted', async function () {
    const bodies: string[] = [];
    const tokens = manager({ dispatcher: recording(agent, bodies), scope: '  ' });
    const token = remember(await tokens.get());
    assert.deepEqual([...new URLSearchParams(bodies[0]).keys()].sort(), ['client_id', 'grant_type']);
    assert.equal(token.scope, 'cara-platform ns:cara:authx.Reader ns:cara:scp.Contributor');
  });

  it('answers 200 concurrent callers with ONE token request', async function () {
    const tokens = manager();
    const results = await Promise.all(Array.from({ length: 200 }, () => tokens.get()));
    assert.equal(iam.tokenRequestCount, 1);
    assert.equal(new Set(results.map((t) => t.value)).size, 1);
    remember(results[0]);
    // and the cache answers afterwards
    await tokens.get();
    assert.equal(iam.tokenRequestCount, 1);
  });

  it('reports a client without certificate as invalid_client, naming the certificate', async function () {
    const tokens = manager({ dispatcher: await agentFor(undefined) });
    const err = expectCaraError(await rejection(tokens.get()), 'CARA_OAUTH');
    assert.equal(err.oauthError, 'invalid_client');
    assert.equal(err.statusCode, 401);
    assert.match(err.message, /invalid_client/);
    assert.match(err.message, /certificate/);
    assert.match(err.message, /tcu-bestclinic\/scp-importer/);
    assert.equal(tokens.state.state, 'failing');
  });

  it('reports a certificate from a foreign CA as invalid_client', async function () {
    const foreign = createPki().client(CN);
    const tokens = manager({ dispatcher: await agentFor(foreign) });
    const err = expectCaraError(await rejection(tokens.get()), 'CARA_OAUTH');
    assert.equal(err.oauthError, 'invalid_client');
  });

  it('reports a scope the client may not have as invalid_scope', async function () {
    const tokens = manager({ scope: 'ns:cara:scp.Contributor ns:cara:admin.Contributor' });
    const err = expectCaraError(await rejection(tokens.get()), 'CARA_OAUTH');
    assert.equal(err.oauthError, 'invalid_scope');
    assert.equal(err.statusCode, 400);
    assert.match(err.message, /scope/);
  });

  it('does not retry invalid_client in a loop; an explicit get() tries again at most once per backoff period', async function () {
    const tokens = manager({ dispatcher: await agentFor(undefined), backoffInitialMs: 100, random: () => 1 });
    expectCaraError(await rejection(tokens.get()), 'CARA_OAUTH');
    assert.equal(iam.tokenRequestCount, 1);
    const failing = tokens.state;
    assert.equal(failing.state, 'failing');
    assert.ok(failing.state === 'failing' && failing.retryAt !== undefined);
    // A background loop would have asked several times in this window (backoff 100, 200 ms).
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.equal(iam.tokenRequestCount, 1);
    // The explicit call after the backoff period asks again, once...
    expectCaraError(await rejection(tokens.get()), 'CARA_OAUTH');
    assert.equal(iam.tokenRequestCount, 2);
    // ...and a call within the (now 200 ms) period gets the same answer without a request.
    const again = expectCaraError(await rejection(tokens.get()), 'CARA_OAUTH');
    assert.equal(again.oauthError, 'invalid_client');
    assert.equal(iam.tokenRequestCount, 2);
  });

  it('invalidate(value) forces a new token, with a single request for concurrent callers; stale values are ignored', async function () {
    const tokens = manager();
    const first = remember(await tokens.get());
    tokens.invalidate(first.value);
    assert.equal(tokens.current, undefined);
    const renewed = await Promise.all(Array.from({ length: 20 }, () => tokens.get()));
    assert.equal(iam.tokenRequestCount, 2);
    assert.equal(new Set(renewed.map((t) => t.value)).size, 1);
    assert.notEqual(renewed[0].value, first.value);
    remember(renewed[0]);
    tokens.invalidate(first.value); // a late 401 for the old token
    assert.equal((await tokens.get()).value, renewed[0].value);
    assert.equal(iam.tokenRequestCount, 2);
  });

  it('renew() gets a new token even while the cached one is valid', async function () {
    const tokens = manager();
    const first = remember(await tokens.get());
    const [a, b] = await Promise.all([tokens.renew(), tokens.renew()]);
    assert.equal(a.value, b.value);
    assert.notEqual(a.value, first.value);
    remember(a);
    assert.equal(iam.tokenRequestCount, 2);
  });

  it('close() clears every timer and refuses later calls', async function () {
    const pending = new Set<number>();
    let next = 0;
    const clock: Clock = {
      now: () => Date.now(),
      setTimeout: () => {
        pending.add(++next);
        return next;
      },
      clearTimeout: (handle) => pending.delete(handle as number),
    };
    const tokens = manager({ clock });
    remember(await tokens.get());
    assert.equal(pending.size, 1, 'a renewal is scheduled');
    tokens.close();
    assert.equal(pending.size, 0);
    expectCaraError(await rejection(tokens.get()), 'CARA_CLOSED');
  });

  describe('with short-lived tokens (3 s)', function () {
    let shortIam: RunningIam;

    before(async function () {
      shortIam = await startIam({ pki, clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: SCOPES }], accessTokenTtlSeconds: 3 });
    });

    after(async function () {
      await shortIam.stop();
    });

    it('renews in the background before expiry, so that no caller waits', async function () {
      const tokens = manager({ tokenEndpoint: shortIam.tokenEndpoint });
      const first = remember(await tokens.get());
      assert.equal(first.expiresAt - first.obtainedAt, 3_000);
      assert.equal(shortIam.tokenRequestCount, 1);

      // While the renewal is in flight, callers get the still-valid token at once.
      await nextState(tokens, 'renewing');
      const during = await tokens.get();
      assert.equal(during.value, first.value);

      const ok = await nextState(tokens, 'ok');
      assert.equal(shortIam.tokenRequestCount, 2);
      const after = remember(await tokens.get());
      assert.notEqual(after.value, first.value);
      assert.ok(ok.state === 'ok' && ok.expiresAt === after.expiresAt);
      // Renewed before the old token expired.
      assert.ok(after.obtainedAt < first.expiresAt);
      assert.equal(shortIam.tokenRequestCount, 2);
    });
  });

  describe('when the IAM goes down and comes back on the same port', function () {
    let flakyIam: RunningIam | undefined;
    let port: number;

    async function startFlaky(): Promise<RunningIam> {
      flakyIam = await startIam({ pki, port, clients: [{ clientId: CLIENT_ID, certificateCommonName: CN, scopes: SCOPES }] });
      port = flakyIam.port;
      return flakyIam;
    }

    async function stopFlaky(): Promise<void> {
      await flakyIam?.stop();
      flakyIam = undefined;
    }

    before(async function () {
      port = 0;
      await startFlaky();
    });

    after(stopFlaky);

    it('keeps the still-valid token when a renewal fails, reports failing, and recovers in the background', async function () {
      const running = flakyIam as RunningIam;
      const tokens = manager({ tokenEndpoint: running.tokenEndpoint, backoffInitialMs: 100, backoffMaxMs: 300 });
      const first = remember(await tokens.get());
      await stopFlaky();

      const err = expectCaraError(await rejection(tokens.renew()), 'CARA_NETWORK');
      assert.match(err.message, new RegExp(`localhost:${port}/realms/cara/protocol/openid-connect/token`));
      assert.equal(err.retryable, true);
      const state = tokens.state;
      assert.equal(state.state, 'failing');
      assert.ok(state.state === 'failing' && state.expiresAt === first.expiresAt && state.retryAt !== undefined);
      assert.equal((await tokens.get()).value, first.value, 'the valid token is still served');

      const recovered = nextState(tokens, 'ok');
      await startFlaky();
      await recovered;
      const next = remember(await tokens.get());
      assert.notEqual(next.value, first.value);
    });

    it('fails clearly while down without any token, then recovers without a new manager', async function () {
      await stopFlaky();
      const tokens = manager({ tokenEndpoint: `https://localhost:${port}/realms/cara/protocol/openid-connect/token`, backoffInitialMs: 100, backoffMaxMs: 300 });
      const err = expectCaraError(await rejection(tokens.get()), 'CARA_NETWORK');
      assert.match(err.message, /ECONNREFUSED|connect/i);
      const state = tokens.state;
      assert.ok(state.state === 'failing' && state.expiresAt === undefined);
      assert.match(state.reason, /token/);

      const recovered = nextState(tokens, 'ok');
      await startFlaky();
      await recovered;
      remember(await tokens.get());
    });
  });

  describe('answers no real IAM gives on demand (HTTPS stub)', function () {
    let server: https.Server;
    let answer: Record<string, unknown>;
    let status = 200;
    let endpoint: string;

    before(async function () {
      server = https.createServer({ key: pki.server.keyPem, cert: pki.server.certPem }, (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      endpoint = `https://localhost:${(server.address() as AddressInfo).port}/token`;
    });

    after(function () {
      server.closeAllConnections();
      server.close();
    });

    it('accepts token_type in any case and takes the lifetime from the JWT exp without expires_in', async function () {
      const { privateKey } = await generateKeyPair('RS256');
      const exp = Math.floor(Date.now() / 1000) + 120;
      const jwt = await new SignJWT({ scope: 'x' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(exp).sign(privateKey);
      answer = { access_token: jwt, token_type: 'bEaReR' };
      const token = remember(await manager({ tokenEndpoint: endpoint }).get());
      assert.equal(token.tokenType, 'Bearer');
      assert.equal(token.expiresAt, exp * 1000);
    });

    it('scrubs secrets from a refusal\'s error_description, in the message and in err.outcome', async function () {
      const echoed = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlY2hvZWQifQ.c2lnbmF0dXJlLXZhbHVl';
      status = 400;
      answer = { error: 'invalid_request', error_description: `client_assertion ${echoed} refused; passphrase Secret-Pass-99` };
      try {
        const err = expectCaraError(await rejection(manager({ tokenEndpoint: endpoint, secrets: ['Secret-Pass-99'] }).get()), 'CARA_OAUTH');
        assert.equal(err.oauthError, 'invalid_request');
        assert.match(err.message, /invalid_request: client_assertion \[REDACTED JWT\] refused; passphrase \[REDACTED\]/);
        assert.deepEqual(err.outcome, { error: 'invalid_request', error_description: 'client_assertion [REDACTED JWT] refused; passphrase [REDACTED]' });
      } finally {
        status = 200;
      }
    });

    it('refuses a token type other than Bearer', async function () {
      answer = { access_token: 'opaque-token-value-123', token_type: 'DPoP', expires_in: 300 };
      const err = expectCaraError(await rejection(manager({ tokenEndpoint: endpoint }).get()), 'CARA_BAD_RESPONSE');
      assert.match(err.message, /token_type is "DPoP", expected "Bearer"/);
      assert.ok(!err.message.includes('opaque-token-value-123'));
    });
  });

  // Runs last (mocha runs nested suites after the parent's own tests).
  describe('after all of the above', function () {
    it('never puts a token in an error message or a state reason', function () {
      assert.ok(issuedTokens.size >= 12, `tokens seen: ${issuedTokens.size}`);
      assert.ok(published.length >= 12, `messages seen: ${published.length}`);
      for (const text of published) {
        for (const token of issuedTokens) assert.ok(!text.includes(token), `a token leaked into: ${text.slice(0, 80)}`);
        assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(text), `a JWT-shaped value leaked into: ${text.slice(0, 80)}`);
      }
    });
  });
});

describe('renewalDelayMs', function () {
  it('renews CARA 300 s tokens after 240 s, long ones at 80 %, short ones at half their life', function () {
    assert.equal(renewalDelayMs(300_000), 240_000);
    assert.equal(renewalDelayMs(3_600_000), 2_880_000);
    assert.equal(renewalDelayMs(120_000), 60_000);
    assert.equal(renewalDelayMs(3_000), 1_500);
  });
});
