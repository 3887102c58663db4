/**
 * Nothing secret leaves the nodes except where the flow asked for the token: over a run of
 * get / renew / introspect / verify and failure cases, every status text, every log call
 * (error, warn, log, debug) and every error that reaches a Catch node is captured, and
 * neither a token, nor a passphrase, nor the private key (PEM or PKCS#12) appears in any of it.
 */
import { strict as assert } from 'node:assert';
import { inspect } from 'node:util';
import {
  caraConfig,
  collect,
  eventually,
  helper,
  inject,
  loadFlow,
  type FlowNode,
} from './support/node-red';
import { startVaultPlatform, vaultConfig, type VaultPlatform } from './support/platform';

/** The base64 body of a PEM block, without its armour (what a leak would most likely show). */
function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

/** Every call of the spied Node.prototype method `name`, made by any node. */
function spyCalls(name: 'status' | 'error' | 'warn' | 'log' | 'debug' | 'trace'): unknown[][] {
  const someNode = helper.getNode('get') as unknown as Record<string, { getCalls?: () => Array<{ args: unknown[] }> }>;
  return (someNode[name]?.getCalls?.() ?? []).map((c) => c.args);
}

describe('secrets never reach status, logs or errors', function () {
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

  it('over get, renew, introspect, verify and failures, and server errors that echo the token', async function () {
    const good = vaultConfig(platform, { id: 'good', certificate: 'pkcs12' });
    const encrypted = caraConfig(platform, { id: 'wrong-passphrase', certificate: 'pem-encrypted', passphrase: 'Wrong-Passphrase-123' });
    const badScope = caraConfig(platform, { id: 'bad-scope', certificate: 'pem-encrypted', scope: 'ns:cara:nothing.Reader' });
    const stranger = caraConfig(platform, { id: 'stranger', client: 'stranger', certificate: 'pem' });
    const identity = good.identity;
    assert.ok(identity && encrypted.identity);
    const tokenNode = (id: string, config: string, extra: Partial<FlowNode> = {}): FlowNode => ({
      id,
      type: 'cara-token',
      z: 'f1',
      config,
      wires: [['out']],
      ...extra,
    });
    const flow: FlowNode[] = [
      { id: 'f1', type: 'tab', label: 'secrets' },
      good.node,
      encrypted.node,
      badScope.node,
      stranger.node,
      tokenNode('get', 'good', { setAuthorizationHeader: true }),
      tokenNode('renew', 'good', { action: 'renew' }),
      tokenNode('introspect', 'good', { action: 'introspect' }),
      tokenNode('introspect-msg', 'good', { action: 'introspect', token: 'token', tokenType: 'msg' }),
      tokenNode('verify', 'good', { action: 'verify' }),
      tokenNode('verify-msg', 'good', { action: 'verify', token: 'token', tokenType: 'msg' }),
      tokenNode('get-wrong-passphrase', 'wrong-passphrase'),
      tokenNode('get-bad-scope', 'bad-scope'),
      tokenNode('get-stranger', 'stranger'),
      { id: 'fhir', type: 'cara-fhir', z: 'f1', config: 'good', interaction: 'read', resourceType: 'Patient', resourceTypeType: 'str', resourceId: 'p1', resourceIdType: 'str', wires: [['out']] },
      { id: 'resolve', type: 'cara-resolve-account', z: 'f1', config: 'good', cacheTtl: 0, wires: [['out']] },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catch', type: 'catch', z: 'f1', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
    await loadFlow(flow, { ...good.credentials, ...encrypted.credentials, ...badScope.credentials, ...stranger.credentials });
    const out = collect('out');
    const caught = collect('caught');

    // The tokens handed out on purpose: remembered as secrets, not searched in those outputs.
    inject('get');
    const first = (await out.next()).payload as string;
    inject('renew');
    const second = (await out.next()).payload as string;
    assert.notEqual(first, second);

    const checked: unknown[] = [];
    for (const id of ['introspect', 'verify']) {
      inject(id);
      checked.push((await out.next()).payload);
    }
    // A token the IAM never issued and one whose payload was changed: introspection says
    // inactive, verification fails; neither echoes the token.
    const [header, payload, signature] = second.split('.');
    const tampered = [header, Buffer.from(String(payload), 'base64url').toString('utf8').replace('"tcu-test/importer"', '"tcu-test/other"'), signature]
      .map((part, i) => (i === 1 ? Buffer.from(String(part)).toString('base64url') : part))
      .join('.');
    inject('introspect-msg', { token: tampered });
    checked.push((await out.next()).payload);
    inject('verify-msg', { token: tampered });
    inject('verify-msg', { token: `${second}x` });
    inject('get-wrong-passphrase');
    inject('get-bad-scope');
    inject('get-stranger');
    const errors = [];
    for (let i = 0; i < 5; i++) errors.push(await caught.next());

    // A gateway or server that echoes the request's Authorization header in its error body:
    // the body reaches Catch and debug as msg.outcome, so it must be scrubbed like the message.
    platform.vault.faults.queue({
      kind: 'status',
      status: 400,
      body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'security', diagnostics: `rejected Authorization: Bearer ${second}` }] },
    });
    inject('fhir', { partition: platform.patients[0].partition });
    platform.aim.faults.queue({
      kind: 'status',
      status: 400,
      body: { message: `invalid request with Bearer ${second}`, request: { headers: { authorization: `Bearer ${second}` } }, token: second },
    });
    inject('resolve', { payload: platform.patients[0].mpiIdUrn });
    const echoed = [await caught.next(), await caught.next()];
    for (const m of echoed) {
      assert.equal(m.statusCode, 400);
      assert.ok(m.outcome, 'the server error body is passed on as msg.outcome');
    }
    assert.ok(echoed.some((m) => /rejected Authorization/.test(JSON.stringify(m.outcome))));
    assert.ok(echoed.some((m) => /invalid request with/.test(JSON.stringify(m.outcome))));
    errors.push(...echoed);
    assert.equal(errors.filter((m) => (m.error as { code?: string }).code === 'CARA_TOKEN_INVALID').length, 2);
    assert.ok(errors.some((m) => /passphrase/.test((m.error as { message: string }).message)));
    assert.ok(errors.some((m) => /invalid_scope/.test((m.error as { message: string }).message)));
    assert.ok(errors.some((m) => /invalid_client/.test((m.error as { message: string }).message)));
    await eventually(() => spyCalls('status').length > 0, 2_000, 'statuses');

    const captured = inspect(
      {
        statuses: spyCalls('status'),
        // node.error(err, msg): the second argument is the flow's own message, routed to Catch.
        errors: spyCalls('error').map((args) => args[0]),
        warnings: spyCalls('warn'),
        logs: spyCalls('log'),
        debug: spyCalls('debug'),
        trace: spyCalls('trace'),
        runtimeLog: helper.log()?.args,
        // What the nodes added; the rest of a caught message is the flow's own input.
        caught: errors.map((m) => ({ error: m.error, statusCode: m.statusCode, outcome: m.outcome })),
        checked,
      },
      { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity },
    );
    // The capture is not empty: it holds the failures we caused.
    assert.match(captured, /invalid_client/);
    assert.match(captured, /wrong passphrase/);

    const secrets: Record<string, string> = {
      'first token': first,
      'second token': second,
      'a token signature': String(signature),
      'the passphrase': identity.passphrase,
      'the wrong passphrase': 'Wrong-Passphrase-123',
      'the private key': pemBody(identity.keyPem),
      'the encrypted private key': pemBody(identity.encryptedKeyPem),
      'the PKCS#12 file': identity.pfx.toString('base64'),
    };
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(secret.length > 16, `${what} is a real secret`);
      const at = captured.indexOf(secret);
      assert.equal(at, -1, `${what} leaked into status, logs or errors: …${captured.slice(Math.max(0, at - 300), at + 40)}…`);
    }
    // A leak would most likely show the start of a PEM key or the token's first segments.
    assert.equal(/PRIVATE KEY-----/.test(captured), false, 'no PEM key armour anywhere');
    // Partial leaks too (a truncated token in a status or message): any 24 characters of a
    // token's payload or signature. The header is shared by all tokens and not secret.
    for (const token of [first, second]) {
      const [, body = '', sig = ''] = token.split('.');
      for (const part of [body, sig]) {
        for (let i = 0; i + 24 <= part.length; i += 12) {
          const window = part.slice(i, i + 24);
          assert.equal(captured.includes(window), false, `part of a token leaked: …${window}…`);
        }
      }
    }
  });
});
