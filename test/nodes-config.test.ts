/**
 * cara-config in a real Node-RED runtime against the real sandbox IAM over mTLS: every
 * certificate source, deploy-time errors, the status it fans out to its users, and a close
 * that leaves nothing running.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node, NodeStatus } from 'node-red';
import type { CaraConfigNode } from '../nodes/shared/config-api';
import { readSettings, type CaraConfigDefinition } from '../nodes/cara-config/settings';
import {
  caraConfig,
  collect,
  eventually,
  helper,
  inject,
  loadFlow,
  missingMessageKeys,
  nextStatus,
  redeploy,
  startPlatform,
  translate,
  type CertificateChoice,
  type ConfigOptions,
  type FlowNode,
  type LogEvent,
  type Platform,
} from './support/node-red';

const TAB: FlowNode = { id: 'f1', type: 'tab', label: 'test' };

/** A config, two token nodes using it, their outputs and a Catch for both. */
function flowWith(platform: Platform, config: ConfigOptions = {}) {
  const setup = caraConfig(platform, config);
  const flow: FlowNode[] = [
    TAB,
    setup.node,
    ...setup.extraNodes,
    { id: 'token', type: 'cara-token', z: 'f1', config: setup.node.id, wires: [['out']] },
    { id: 'token2', type: 'cara-token', z: 'f1', config: setup.node.id, action: 'introspect', wires: [['out']] },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'catch', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  ];
  return { flow, credentials: setup.credentials, setup };
}

function node(id: string): Node {
  const found = helper.getNode(id);
  assert.ok(found, `node ${id} exists`);
  return found;
}

function logEvents(level: 'error' | 'warn'): LogEvent[] {
  const wanted = level === 'error' ? 20 : 30;
  return (helper.log()?.args ?? []).map(([event]) => event).filter((event) => event.level === wanted);
}

/** The status a node shows now (the last one it set). */
function statusesOf(id: string): NodeStatus[] {
  const spy = (node(id) as unknown as { status: { getCalls?: () => Array<{ thisValue: unknown; args: unknown[] }> } }).status;
  const calls = spy.getCalls?.() ?? [];
  return calls.filter((c) => (c.thisValue as Node).id === id).map((c) => c.args[0] as NodeStatus);
}

describe('cara-config node (real Node-RED, real IAM over mTLS)', function () {
  let platform: Platform;

  before(async function () {
    platform = await startPlatform();
    await helper.startServer();
  });

  after(async function () {
    await helper.stopServer();
    await platform.stop();
  });

  afterEach(() => helper.unload());

  describe('certificate sources', function () {
    const sources: CertificateChoice[] = ['pem', 'pem-encrypted', 'pem-file', 'pkcs12', 'pkcs12-file', 'tls-config'];
    for (const certificate of sources) {
      it(`gets a token with a ${certificate} certificate`, async function () {
        const { flow, credentials } = flowWith(platform, { certificate });
        await loadFlow(flow, credentials);
        const out = collect('out');
        inject('token');
        const msg = await out.next();
        assert.equal(typeof msg.payload, 'string');
        assert.equal((msg.token as { claims: Record<string, unknown> }).claims.azp, 'tcu-test/importer');
      });
    }

    for (const certificate of ['pkcs12', 'pem-encrypted', 'pkcs12-file'] as const) {
      it(`reports a wrong passphrase (${certificate}) once at deploy, on every user's status and per message`, async function () {
        const { flow, credentials } = flowWith(platform, { certificate, passphrase: 'not-the-passphrase' });
        await loadFlow(flow, credentials);
        const config = node('cara-config-1') as CaraConfigNode;
        await assert.rejects(config.client(), /passphrase/);
        await eventually(() => statusesOf('token2').some((s) => s.fill === 'red' && /passphrase/.test(String(s.text))), 2_000, 'red status on token2');
        assert.ok(statusesOf('token').some((s) => s.fill === 'red' && /passphrase/.test(String(s.text))));
        const errors = logEvents('error');
        assert.equal(errors.length, 1, 'one error at deploy');
        assert.match(String(errors[0]?.msg), /wrong passphrase/);
        const caught = collect('caught');
        inject('token');
        const msg = await caught.next();
        assert.match((msg.error as { message: string }).message, /wrong passphrase/);
        assert.equal((msg.error as { code?: string }).code, 'CARA_CERTIFICATE');
      });
    }

    it('trusts extra CA certificates read from a file (caPath), as the examples do with ${CARA_SANDBOX_CA}', async function () {
      const { flow, credentials, setup } = flowWith(platform, { certificate: 'pem-file' });
      const caPath = `${platform.dir}/sandbox-ca.pem`;
      writeFileSync(caPath, platform.pki.ca.certPem);
      setup.node.caPath = caPath;
      // Without the inline CA, only the file can make the IAM's certificate trusted.
      delete (credentials as Record<string, Record<string, string>>)[setup.node.id]?.caPem;
      await loadFlow(flow, credentials);
      const out = collect('out');
      inject('token');
      const msg = await out.next();
      assert.equal(typeof msg.payload, 'string');
    });

    it('reports a CA file that cannot be read', async function () {
      const { flow, credentials, setup } = flowWith(platform, { certificate: 'pem' });
      setup.node.caPath = `${platform.dir}/missing-ca.pem`;
      await loadFlow(flow, credentials);
      await assert.rejects((node('cara-config-1') as CaraConfigNode).client(), /cannot read the CA certificate file .*ENOENT/);
    });

    it('reports a certificate file that cannot be read', async function () {
      const { flow, credentials, setup } = flowWith(platform, { certificate: 'pkcs12-file' });
      setup.node.pfxPath = `${platform.dir}/missing.p12`;
      await loadFlow(flow, credentials);
      await assert.rejects((node('cara-config-1') as CaraConfigNode).client(), /cannot read the PKCS#12 file .*ENOENT/);
    });

    it('keeps server verification on even when the tls-config turns it off', async function () {
      const { flow, credentials, setup } = flowWith(platform, { certificate: 'tls-config' });
      const tls = flow.find((n) => n.type === 'tls-config');
      assert.ok(tls);
      tls.verifyservercert = false;
      // Without the sandbox CA the IAM's certificate cannot be trusted: the request must fail.
      const creds = credentials as Record<string, Record<string, string>>;
      delete creds[setup.node.id]?.caPem;
      delete creds[tls.id]?.cadata;
      await loadFlow(flow, credentials);
      platform.iam.resetCounters();
      assert.ok(logEvents('warn').some((e) => /verif/.test(String(e.msg))), 'warns that verification stays on');
      const caught = collect('caught');
      inject('token');
      const msg = await caught.next();
      assert.match((msg.error as { message: string }).message, /certificate/i);
      assert.equal(platform.iam.tokenRequestCount, 0, 'the untrusted server never saw a request');
    });

    it('warns when the certificate expires within 30 days, and still works', async function () {
      const soon = platform.pki.client('tcu-test-importer', { notAfter: new Date(Date.now() + 10 * 86_400_000) });
      const { flow, credentials } = flowWith(platform, { identity: soon });
      await loadFlow(flow, credentials);
      const token = node('token');
      const yellow = nextStatus(token, (s) => s.fill === 'yellow' && /token ok/.test(String(s.text)));
      const out = collect('out');
      inject('token');
      await out.next();
      const status = await yellow;
      assert.match(String(status.text), /^token ok · cert expires in (9|10) d$/);
      assert.ok(logEvents('warn').some((e) => /expires on/.test(String(e.msg))));
    });
  });

  describe('settings', function () {
    it('refuses a config without a client id at deploy, and each message says why', async function () {
      const { flow, credentials } = flowWith(platform, { clientId: '' });
      await loadFlow(flow, credentials);
      await assert.rejects((node('cara-config-1') as CaraConfigNode).client(), /client id is empty/);
      const caught = collect('caught');
      inject('token');
      const msg = await caught.next();
      assert.equal((msg.error as { code?: string }).code, 'CARA_CONFIG');
    });

    it('refuses a non-https custom URL', async function () {
      const { flow, credentials, setup } = flowWith(platform);
      setup.node.issuer = 'http://localhost:1/realms/cara';
      await loadFlow(flow, credentials);
      await assert.rejects((node('cara-config-1') as CaraConfigNode).client(), /must be an https:\/\/ URL/);
    });

    const t = (key: string, params?: Record<string, string | number>): string => translate(key, params);
    const read = (def: CaraConfigDefinition) => readSettings(def, {}, { t, tlsConfigNode: () => null });

    it('uses the preset URLs of an environment and ignores URLs left from a custom setup', function () {
      const { settings } = read({ environment: 'integration', clientId: 'c', issuer: 'https://stale.example/realms/cara', aimUrl: 'https://stale.example' });
      assert.equal(settings.issuer, 'https://iam-int.cara.ch/realms/cara');
      assert.equal(settings.aimUrl, 'https://ws-authx-mtls-int.cara.ch');
      assert.equal(settings.fhirBaseUrl, 'https://ws-fhir-mtls-int.cara.ch/fhir');
      assert.equal(settings.timeoutMs, 30_000);
    });

    it('derives the local sandbox URLs from its port', function () {
      const { settings } = read({ environment: 'sandbox', sandboxPort: '9443', clientId: 'c' });
      assert.equal(settings.issuer, 'https://localhost:9443/realms/cara');
      assert.equal(settings.aimUrl, 'https://localhost:9444');
      assert.equal(settings.fhirBaseUrl, 'https://localhost:9445/fhir');
    });

    it('serves the presets to the editor', async function () {
      const { flow, credentials } = flowWith(platform);
      await loadFlow(flow, credentials);
      const res = await (helper as unknown as { request(): { get(url: string): Promise<{ status: number; body: Record<string, { issuer: string }> }> } })
        .request()
        .get('/cara-config/environments?sandboxPort=9443');
      assert.equal(res.status, 200);
      assert.equal(res.body.production?.issuer, 'https://iam.cara.ch/realms/cara');
      assert.equal(res.body.sandbox?.issuer, 'https://localhost:9443/realms/cara');
    });
  });

  describe('status fan-out', function () {
    it('gets a token at deploy: every user shows "token ok" before any message, and the first message waits for nothing', async function () {
      const before = platform.iam.tokenRequestCount;
      const { flow, credentials } = flowWith(platform);
      await loadFlow(flow, credentials);
      const tokenOk = (s: NodeStatus): boolean => s.fill === 'green' && /^token ok · until \d\d:\d\d:\d\d$/.test(String(s.text));
      await eventually(() => statusesOf('token2').some(tokenOk), 5_000, 'token ok on token2 without a message');
      assert.equal(platform.iam.tokenRequestCount, before + 1, 'one token request at deploy');
      const out = collect('out');
      inject('token');
      await out.next();
      assert.equal(platform.iam.tokenRequestCount, before + 1, 'the message used the token got at deploy');
    });

    it('shows a short reason in red at deploy when the IAM refuses the client', async function () {
      const { flow, credentials } = flowWith(platform, { client: 'stranger' });
      await loadFlow(flow, credentials);
      await eventually(() => statusesOf('token2').some((s) => s.fill === 'red' && String(s.text) === 'invalid_client (401)'), 5_000, 'red at deploy');
    });
  });

  describe('close', function () {
    it('stops background renewal and closes the client on redeploy; the new config works', async function () {
      const short = await startPlatform({ accessTokenTtlSeconds: 2 });
      try {
        const { flow, credentials } = flowWith(short);
        await loadFlow(flow, credentials);
        const oldClient = await (node('cara-config-1') as CaraConfigNode).client();
        const out = collect('out');
        inject('token');
        await out.next();
        // Background renewal is running (a 2 s token is renewed after about 1 s)...
        await eventually(() => short.iam.tokenRequestCount >= 2, 3_000, 'a background renewal');

        const next = flowWith(short, { id: 'cara-config-2' });
        await redeploy(next.flow, next.credentials);
        await assert.rejects(oldClient.tokens.get(), (err: { code?: string }) => err.code === 'CARA_CLOSED');
        const counted = short.iam.tokenRequestCount;

        const newOut = collect('out');
        inject('token');
        await newOut.next();
        assert.equal(short.iam.tokenRequestCount, counted + 1, 'the new config asked once');

        await helper.unload();
        const afterUnload = short.iam.tokenRequestCount;
        // ...and after the unload nothing renews any more (a renewal was due within ~1 s).
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(short.iam.tokenRequestCount, afterUnload);
      } finally {
        await short.stop();
      }
    });

    it('closes its connections: no socket of ours is left open after unload', async function () {
      // Both ends of the loopback mTLS connection count here (the IAM runs in this process).
      const tlsSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
      const before = tlsSockets();
      const { flow, credentials } = flowWith(platform);
      await loadFlow(flow, credentials);
      const out = collect('out');
      inject('token');
      await out.next();
      assert.ok(tlsSockets() > before, 'a keep-alive connection is open while deployed');
      await helper.unload();
      await eventually(() => tlsSockets() <= before, 3_000, 'TLS sockets closed');
    });
  });

  describe('editor files', function () {
    // What the editor files say and do is tested in test/editor-files.test.ts; here: the build ships them.
    for (const type of ['cara-config', 'cara-token', 'cara-resolve-account', 'cara-fhir']) {
      it(`${type}: the build puts its editor file, en-US catalogue and icon beside the built node`, function () {
        const source = join(__dirname, '..', 'nodes', type);
        const built = join(__dirname, '..', 'dist', 'nodes', type);
        for (const file of [`${type}.html`, join('locales', 'en-US', `${type}.json`)]) {
          assert.equal(readFileSync(join(built, file), 'utf8'), readFileSync(join(source, file), 'utf8'), `${file} is current in dist/ (npm run build)`);
        }
        assert.ok(readFileSync(join(built, 'icons', 'cara.svg'), 'utf8').includes('<svg'));
      });
    }
  });

  describe('messages', function () {
    it('used only texts that exist in the catalogues', function () {
      assert.deepEqual([...missingMessageKeys], []);
    });
  });
});
