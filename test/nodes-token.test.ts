/**
 * cara-token in a real Node-RED runtime against the real sandbox IAM over mTLS:
 * get / renew / introspect / verify, the Authorization header, errors through Catch,
 * and single flight under 200 concurrent messages.
 */
import { strict as assert } from 'node:assert';
import {
  caraConfig,
  collect,
  eventually,
  events,
  helper,
  inject,
  loadFlow,
  missingMessageKeys,
  nextStatus,
  startPlatform,
  type ConfigOptions,
  type FlowNode,
  type Platform,
} from './support/node-red';

/** config -> token node -> 'out'; a Catch node for the token node -> 'caught'. */
function tokenFlow(platform: Platform, token: Partial<FlowNode> = {}, config: ConfigOptions = {}) {
  const setup = caraConfig(platform, config);
  const flow: FlowNode[] = [
    setup.node,
    ...setup.extraNodes,
    { id: 'token', type: 'cara-token', z: 'f1', config: setup.node.id, wires: [['out']], ...token },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'catch', type: 'catch', z: 'f1', scope: ['token'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
    { id: 'f1', type: 'tab', label: 'test' },
  ];
  return { flow, credentials: setup.credentials, identity: setup.identity };
}

async function start(platform: Platform, token: Partial<FlowNode> = {}, config: ConfigOptions = {}) {
  const { flow, credentials } = tokenFlow(platform, token, config);
  await loadFlow(flow, credentials);
  return { out: collect('out'), caught: collect('caught') };
}

function decodePayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('cara-token node (real Node-RED, real IAM over mTLS)', function () {
  let platform: Platform;

  before(async function () {
    platform = await startPlatform();
    await helper.startServer();
  });

  after(async function () {
    await helper.stopServer();
    await platform.stop();
  });

  beforeEach(() => platform.iam.resetCounters());
  afterEach(() => helper.unload());

  describe('get', function () {
    it('puts the token in msg.payload and describes it in msg.token', async function () {
      const { out } = await start(platform);
      inject('token', { topic: 'x' });
      const msg = await out.next();
      assert.equal(typeof msg.payload, 'string');
      const claims = decodePayload(msg.payload as string);
      assert.equal(claims.azp, 'tcu-test/importer');
      const token = msg.token as Record<string, unknown>;
      assert.equal(token.tokenType, 'Bearer');
      assert.ok(Date.parse(token.expiresAt as string) > Date.now(), 'expiresAt is an ISO date in the future');
      assert.ok((token.expiresIn as number) > 250 && (token.expiresIn as number) <= 300, `expiresIn ${String(token.expiresIn)}`);
      assert.match(token.scope as string, /ns:cara:scp\.Contributor/);
      assert.equal((token.claims as Record<string, unknown>)['cara:accountUrn'], 'urn:cara:account:test/importer');
      assert.equal(msg.topic, 'x', 'the rest of the message passes through');
      assert.equal(msg.headers, undefined, 'no header unless asked for');
    });

    it('writes to the configured output property', async function () {
      const { out } = await start(platform, { property: 'cara.accessToken' });
      inject('token', { payload: 'kept' });
      const msg = await out.next();
      assert.equal(msg.payload, 'kept');
      assert.equal(typeof (msg.cara as Record<string, unknown>).accessToken, 'string');
    });

    it('sets msg.headers.Authorization for core http request nodes, replacing any other spelling', async function () {
      const { out } = await start(platform, { setAuthorizationHeader: true });
      inject('token', { headers: { authorization: 'Bearer old', 'x-keep': '1' } });
      const msg = await out.next();
      const headers = msg.headers as Record<string, string>;
      assert.equal(headers.Authorization, `Bearer ${String(msg.payload)}`);
      assert.equal(headers.authorization, undefined);
      assert.equal(headers['x-keep'], '1');
    });

    it('answers 200 concurrent messages with exactly one token request', async function () {
      const { out } = await start(platform);
      for (let i = 0; i < 200; i++) inject('token', { i });
      await eventually(() => out.messages.length === 200, 10_000, '200 messages out');
      assert.equal(platform.iam.tokenRequestCount, 1);
      assert.equal(new Set(out.messages.map((m) => m.payload)).size, 1, 'all got the same token');
    });

    it('serves the cached token to later messages without asking again', async function () {
      const { out } = await start(platform);
      inject('token');
      const first = await out.next();
      inject('token');
      const second = await out.next();
      assert.equal(second.payload, first.payload);
      assert.equal(platform.iam.tokenRequestCount, 1);
    });

    it('verifies the token first when the config asks for it', async function () {
      const { out } = await start(platform, {}, { verifyTokens: true });
      inject('token');
      const msg = await out.next();
      assert.equal((msg.token as { claims: Record<string, unknown> }).claims.iss, platform.iam.issuer);
    });
  });

  describe('renew', function () {
    it('forces a new token even while the cached one is valid', async function () {
      const setup = tokenFlow(platform, {});
      setup.flow.push({ id: 'renew', type: 'cara-token', z: 'f1', config: 'cara-config-1', action: 'renew', wires: [['out']] });
      await loadFlow(setup.flow, setup.credentials);
      const out = collect('out');
      inject('token');
      const first = await out.next();
      assert.equal(platform.iam.tokenRequestCount, 1);
      inject('renew');
      const renewed = await out.next();
      assert.equal(platform.iam.tokenRequestCount, 2);
      assert.notEqual(renewed.payload, first.payload);
      inject('token');
      const after = await out.next();
      assert.equal(after.payload, renewed.payload, 'get now hands out the renewed token');
      assert.equal(platform.iam.tokenRequestCount, 2);
    });
  });

  describe('introspect', function () {
    it('reports the current token as active (ITI-102)', async function () {
      const { out } = await start(platform, { action: 'introspect' });
      inject('token');
      const msg = await out.next();
      const result = msg.payload as Record<string, unknown>;
      assert.equal(result.active, true);
      assert.match(String(result.scope), /ns:cara:authx\.Reader/);
    });

    it('reports a token the IAM never issued as inactive, with nothing else', async function () {
      const { out } = await start(platform, { action: 'introspect', token: 'token', tokenType: 'msg' });
      inject('token', { token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' });
      const msg = await out.next();
      assert.deepEqual(msg.payload, { active: false });
    });

    it('introspects a token taken from the message (e.g. from a get node upstream)', async function () {
      const setup = tokenFlow(platform, { action: 'introspect', token: 'payload', tokenType: 'msg' });
      setup.flow.push({ id: 'get', type: 'cara-token', z: 'f1', config: 'cara-config-1', wires: [['token']] });
      await loadFlow(setup.flow, setup.credentials);
      const out = collect('out');
      inject('get');
      const msg = await out.next();
      assert.equal((msg.payload as Record<string, unknown>).active, true);
    });

    it('fails through Catch when the message holds no token', async function () {
      const { caught } = await start(platform, { action: 'introspect', token: 'token', tokenType: 'msg' });
      inject('token', {});
      const msg = await caught.next();
      assert.match((msg.error as { message: string }).message, /msg\.token holds no token/);
    });
  });

  describe('verify', function () {
    it('verifies the current token against the JWKS', async function () {
      const { out } = await start(platform, { action: 'verify' });
      inject('token');
      const msg = await out.next();
      const result = msg.payload as { claims: Record<string, unknown>; protectedHeader: Record<string, unknown> };
      assert.equal(result.claims.iss, platform.iam.issuer);
      assert.equal(result.protectedHeader.alg, 'RS256');
    });

    it('refuses a tampered token through Catch', async function () {
      const setup = tokenFlow(platform, { action: 'verify', token: 'payload', tokenType: 'msg' });
      setup.flow.push(
        { id: 'get', type: 'cara-token', z: 'f1', config: 'cara-config-1', wires: [['tamper']] },
        {
          id: 'tamper',
          type: 'helper',
          z: 'f1',
          wires: [['token']],
        },
      );
      await loadFlow(setup.flow, setup.credentials);
      const caught = collect('caught');
      const tamper = helper.getNode('tamper');
      assert.ok(tamper);
      events(tamper).on('input', (msg: { payload: string }) => {
        const [header, payload, signature] = msg.payload.split('.');
        const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
        claims['cara:accountUrn'] = 'urn:cara:account:someone-else';
        tamper.send({ payload: [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.') });
      });
      inject('get');
      const msg = await caught.next();
      const error = msg.error as { message: string; code?: string; source: { id: string } };
      assert.equal(error.source.id, 'token');
      assert.match(error.message, /not valid/);
      assert.equal(error.code, 'CARA_TOKEN_INVALID');
    });
  });

  describe('errors', function () {
    it('a client the IAM does not know: done(err) with invalid_client, red status', async function () {
      const { caught } = await start(platform, {}, { client: 'stranger' });
      const token = helper.getNode('token');
      assert.ok(token);
      const red = nextStatus(token, (s) => s.fill === 'red' && /invalid_client/.test(String(s.text)));
      inject('token');
      await red;
      const msg = await caught.next();
      const error = msg.error as { message: string; code?: string };
      assert.match(error.message, /invalid_client/);
      assert.equal(error.code, 'CARA_OAUTH');
      assert.equal(msg.statusCode, 401);
    });

    it('no client certificate at all: invalid_client', async function () {
      const { caught } = await start(platform, {}, { certificate: 'none' });
      inject('token');
      const msg = await caught.next();
      assert.match((msg.error as { message: string }).message, /invalid_client/);
    });

    it('a scope the client is not registered for: invalid_scope', async function () {
      const { caught, out } = await start(platform, {}, { scope: 'ns:cara:admin.Contributor' });
      inject('token');
      const msg = await caught.next();
      assert.match((msg.error as { message: string }).message, /invalid_scope/);
      assert.equal(msg.statusCode, 400);
      assert.equal(out.messages.length, 0, 'nothing sent on failure');
    });

    it('a token node without a config: a clear error per message', async function () {
      await loadFlow([
        { id: 'token', type: 'cara-token', z: 'f1', wires: [['out']] },
        { id: 'out', type: 'helper', z: 'f1' },
        { id: 'catch', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper', z: 'f1' },
        { id: 'f1', type: 'tab', label: 'test' },
      ]);
      const caught = collect('caught');
      inject('token');
      const msg = await caught.next();
      assert.match((msg.error as { message: string }).message, /no CARA connection configured/);
    });
  });

  describe('messages', function () {
    it('used only texts that exist in the catalogues', function () {
      assert.deepEqual([...missingMessageKeys], []);
    });
  });
});
