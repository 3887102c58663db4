/**
 * "Test connection" of the cara-config dialog: POST /cara-config/:id/test on a real Node-RED
 * admin API, against the real sandbox IAM over mTLS. The dialog sends its CURRENT values; secrets
 * a deployed node keeps come as `__PWRD__` and are taken from the node's stored credentials.
 */
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { CaraConfigNode } from '../nodes/shared/config-api';
import { mergeCredentials, parseTestRequest, type TestConnectionResult } from '../nodes/cara-config/test-connection';
import { caraConfig, eventually, helper, loadFlow, startPlatform, type ConfigOptions, type FlowNode, type Platform } from './support/node-red';
import { startScriptedServer, type ScriptedServer } from './support/fault-server';

const DEPLOYED_ID = 'cara-config-1';

interface AdminResponse {
  status: number;
  text: string;
  body: TestConnectionResult;
}
interface AdminRequest {
  post(url: string): { send(body: object): Promise<AdminResponse> };
}

function admin(): AdminRequest {
  return (helper as unknown as { request(): AdminRequest }).request();
}

/** What the dialog sends: every setting of the node and its credential fields. */
function dialogBody(node: FlowNode, credentials: Record<string, string> = {}): object {
  const settings = Object.fromEntries(Object.entries(node).filter(([name]) => !['id', 'type', 'name', 'z', 'verifyTokens'].includes(name)));
  return { settings, credentials };
}

/** A dialog for a config with `options`, as if typed in now (nothing deployed under this id). */
function typedIn(platform: Platform, options: ConfigOptions = {}): { node: FlowNode; credentials: Record<string, string> } {
  const setup = caraConfig(platform, { id: 'typed-in', ...options });
  return { node: setup.node, credentials: setup.credentials['typed-in'] as Record<string, string> };
}

async function testConnection(id: string, body: object): Promise<AdminResponse> {
  const res = await admin().post(`/cara-config/${id}/test`).send(body);
  assert.equal(res.status, 200, res.text);
  return res;
}

/** Both ends of loopback mTLS connections count (the IAM runs in this process). */
function openSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

// The BUILT TokenManager (what Node-RED runs): wrapped to learn the tokens it obtains.
const builtToken = createRequire(__filename)(join(__dirname, '..', 'dist', 'src', 'token.js')) as {
  TokenManager: { prototype: { renew(): Promise<{ value: string }> } };
};

describe('cara-config: test connection (POST /cara-config/:id/test, real IAM over mTLS)', function () {
  let platform: Platform;
  const issued: string[] = [];
  let originalRenew: () => Promise<{ value: string }>;

  before(async function () {
    platform = await startPlatform();
    await helper.startServer();
    originalRenew = builtToken.TokenManager.prototype.renew;
    builtToken.TokenManager.prototype.renew = async function (this: unknown) {
      const token = await originalRenew.call(this);
      issued.push(token.value);
      return token;
    };
  });

  after(async function () {
    builtToken.TokenManager.prototype.renew = originalRenew;
    await helper.stopServer();
    await platform.stop();
  });

  beforeEach(async function () {
    // A deployed config with a PKCS#12 and its passphrase in the stored credentials.
    const setup = caraConfig(platform, { id: DEPLOYED_ID, certificate: 'pkcs12' });
    await loadFlow([{ id: 'f1', type: 'tab', label: 'test' }, setup.node], setup.credentials);
    // The deployed config gets its first token at deploy: let that settle before counting.
    await (await (helper.getNode(DEPLOYED_ID) as unknown as CaraConfigNode).client()).tokens.get();
    issued.length = 0;
  });

  afterEach(() => helper.unload());

  it('gets a token with the values typed in the dialog and says what it got, never the token', async function () {
    const { node, credentials } = typedIn(platform, { certificate: 'pem' });
    const before = platform.iam.tokenRequestCount;
    const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
    const result = res.body;
    assert.ok(result.ok, res.text);
    assert.equal(result.clientId, 'tcu-test/importer');
    assert.match(result.scope ?? '', /ns:cara:scp\.Contributor/);
    assert.ok(result.expiresIn > 250 && result.expiresIn <= 300, `expiresIn ${result.expiresIn}`);
    assert.ok(Date.parse(result.expiresAt) > Date.now());
    assert.match(result.certificate?.subject ?? '', /tcu-test-importer/);
    assert.ok((result.certificate?.daysLeft ?? 0) > 30);
    assert.deepEqual(result.warnings, []);
    assert.equal(platform.iam.tokenRequestCount, before + 1, 'one token request');
    assert.equal(issued.length, 1, 'the token obtained is known to the test');
    assert.ok(!res.text.includes(issued[0] as string), 'the token is not in the answer');
    assert.doesNotMatch(res.text, /eyJ|access_token/);
  });

  it('uses the stored secrets of the deployed node when the dialog sends __PWRD__ for them', async function () {
    const deployed = caraConfig(platform, { id: DEPLOYED_ID, certificate: 'pkcs12' }).node;
    const placeholders = { pfx: '__PWRD__', passphrase: '__PWRD__', caPem: platform.pki.ca.certPem };
    const res = await testConnection(DEPLOYED_ID, dialogBody(deployed, placeholders));
    assert.ok(res.body.ok, res.text);
    assert.match(res.body.certificate?.subject ?? '', /tcu-test-importer/);

    // The same dialog for a node that was never deployed has no stored secrets to fall back to.
    const fresh = await testConnection('never-deployed', dialogBody(deployed, placeholders));
    assert.equal(fresh.body.ok, false);
    assert.ok(!fresh.body.ok && !/__PWRD__/.test(fresh.body.message), fresh.text);
  });

  it('takes stored secrets only from a cara-config node, not from another node with that id', async function () {
    const setup = caraConfig(platform, { id: DEPLOYED_ID, certificate: 'tls-config' });
    await helper.unload();
    await loadFlow([{ id: 'f1', type: 'tab', label: 'test' }, setup.node, ...setup.extraNodes], setup.credentials);
    const tlsId = `${DEPLOYED_ID}-tls`;
    const body = dialogBody(caraConfig(platform, { id: 'x', certificate: 'pem-encrypted' }).node, {
      certPem: platform.identity('importer').certPem,
      keyPem: platform.identity('importer').encryptedKeyPem,
      passphrase: '__PWRD__',
      caPem: platform.pki.ca.certPem,
    });
    // The tls-config node stores the right passphrase, but it is not a cara-config's.
    const res = await testConnection(tlsId, body);
    assert.ok(!res.body.ok);
    assert.equal(res.body.code, 'CARA_CERTIFICATE', res.text);
  });

  it('reports a wrong passphrase, without the passphrase', async function () {
    const { node, credentials } = typedIn(platform, { certificate: 'pkcs12', passphrase: 'not-the-passphrase' });
    const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
    assert.ok(!res.body.ok);
    assert.equal(res.body.code, 'CARA_CERTIFICATE');
    assert.match(res.body.message, /wrong passphrase/);
    assert.ok(!res.text.includes('not-the-passphrase'));
  });

  it('reports a client the IAM does not know (invalid_client)', async function () {
    const { node, credentials } = typedIn(platform, { client: 'stranger' });
    const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
    assert.ok(!res.body.ok);
    assert.equal(res.body.code, 'CARA_OAUTH');
    assert.equal(res.body.oauthError, 'invalid_client');
    assert.equal(res.body.statusCode, 401);
    assert.match(res.body.message, /tcu-test\/stranger/);
  });

  it('reports a scope the client may not ask for (invalid_scope)', async function () {
    const { node, credentials } = typedIn(platform, { scope: 'ns:cara:authx.Reader ns:cara:billing.Contributor' });
    const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
    assert.ok(!res.body.ok);
    assert.equal(res.body.oauthError, 'invalid_scope');
    assert.equal(res.body.statusCode, 400);
  });

  it('reports a missing client certificate: the IAM\'s refusal and the warning that explains it', async function () {
    const { node, credentials } = typedIn(platform, { certificate: 'none' });
    const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
    assert.ok(!res.body.ok);
    assert.equal(res.body.oauthError, 'invalid_client');
    assert.deepEqual(res.body.warnings, ['no client certificate is configured: CARA will refuse this client (invalid_client)']);
  });

  it('reports a setting the runtime would refuse, naming it', async function () {
    const { node, credentials } = typedIn(platform, { clientId: '' });
    const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
    assert.ok(!res.body.ok);
    assert.equal(res.body.code, 'CARA_CONFIG');
    assert.equal(res.body.property, 'clientId');
  });

  it('reports an IAM that does not answer in time (timeout)', async function () {
    let silent: ScriptedServer | undefined;
    try {
      silent = await startScriptedServer(platform.pki);
      silent.fallback = () => ({ hang: true });
      const { node, credentials } = typedIn(platform, { settings: { issuer: '', tokenEndpoint: `${silent.origin}/token`, timeout: 0.5 } });
      const res = await testConnection(DEPLOYED_ID, dialogBody(node, credentials));
      assert.ok(!res.body.ok);
      assert.equal(res.body.code, 'CARA_TIMEOUT', res.text);
    } finally {
      await silent?.stop();
    }
  });

  it('closes its throw-away client: no connection stays open, after a success or a failure', async function () {
    const baseline = openSockets();
    const good = typedIn(platform);
    assert.ok((await testConnection(DEPLOYED_ID, dialogBody(good.node, good.credentials))).body.ok);
    const bad = typedIn(platform, { client: 'stranger' });
    assert.ok(!(await testConnection(DEPLOYED_ID, dialogBody(bad.node, bad.credentials))).body.ok);
    await eventually(() => openSockets() <= baseline, 3_000, 'connections closed');
  });

  describe('request parsing', function () {
    it('keeps only known string settings and credentials', function () {
      const parsed = parseTestRequest({ settings: { clientId: 'c', timeout: 5, evil: 'x', scope: { a: 1 } }, credentials: { keyPem: 'k', other: 'y' } });
      assert.deepEqual(parsed, { settings: { clientId: 'c', timeout: '5' }, credentials: { keyPem: 'k' } });
      assert.deepEqual(parseTestRequest(null), { settings: {}, credentials: {} });
    });

    it('replaces only __PWRD__ placeholders by stored values', function () {
      const merged = mergeCredentials({ keyPem: '__PWRD__', passphrase: 'typed', certPem: '' }, { keyPem: 'stored-key', passphrase: 'stored', certPem: 'stored-cert' });
      assert.equal(merged.keyPem, 'stored-key');
      assert.equal(merged.passphrase, 'typed');
      assert.equal(merged.certPem, '', 'a cleared field stays cleared');
      assert.equal(mergeCredentials({ pfx: '__PWRD__' }, undefined).pfx, undefined);
    });
  });
});
