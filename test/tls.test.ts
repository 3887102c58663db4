/**
 * Client certificate material (src/tls.ts): every form CARA users have (PEM, encrypted PEM,
 * PKCS#12, inline or as files), every mistake they make with it, and a real mTLS handshake
 * with the resulting agent against an HTTPS server that requires a client certificate.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { request } from 'undici';
import { CaraError } from '../src/errors';
import { sendHttp } from '../src/http';
import { createAgent, daysUntilExpiry, DEFAULT_CONNECTIONS_PER_ORIGIN, expiresSoon, loadClientTls, type CertificateSource, type TlsSettings } from '../src/tls';
import { createPki, type ClientIdentity, type Pki } from '../sandbox/pki';

const DAY_MS = 86_400_000;

async function certificateError(settings: TlsSettings, now?: Date): Promise<CaraError> {
  try {
    await loadClientTls(settings, now);
  } catch (err) {
    assert.ok(err instanceof CaraError, `expected a CaraError, got ${String(err)}`);
    assert.equal(err.code, 'CARA_CERTIFICATE', err.message);
    return err;
  }
  assert.fail('expected CARA_CERTIFICATE');
}

describe('client TLS material (tls.ts)', function () {
  this.timeout(15_000);
  let pki: Pki;
  let alice: ClientIdentity;
  let bob: ClientIdentity;
  let dir: string;
  let server: https.Server;
  let origin: string;

  before(async function () {
    pki = createPki();
    alice = pki.client('alice');
    bob = pki.client('bob');
    dir = await mkdtemp(path.join(tmpdir(), 'cara-tls-'));
    // A peer that insists on a client certificate from the sandbox CA and says whose it got.
    server = https.createServer(
      { key: pki.server.keyPem, cert: pki.server.certPem, ca: [pki.ca.certPem], requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(String(peer.subject?.CN));
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  });

  after(async function () {
    server.closeAllConnections();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The CN the server saw over a real mTLS handshake with an agent built from `certificate`. */
  async function handshakeAs(certificate: CertificateSource): Promise<string> {
    const agent = createAgent(await loadClientTls({ certificate, extraCa: [pki.ca.certPem] }), { connectTimeoutMs: 5_000 });
    try {
      const res = await request(`${origin}/`, { dispatcher: agent });
      return await res.body.text();
    } finally {
      await agent.destroy();
    }
  }

  describe('accepted forms', function () {
    it('PEM: describes the certificate and connects with it', async function () {
      const tls = await loadClientTls({ certificate: { type: 'pem', cert: alice.certPem, key: alice.keyPem } });
      assert.match(tls.certificate?.subject ?? '', /CN=alice/);
      assert.match(tls.certificate?.issuer ?? '', /CN=/);
      assert.equal(tls.certificate?.fingerprint256, alice.fingerprint256);
      assert.equal(tls.connectOptions.minVersion, 'TLSv1.2');
      assert.deepEqual(tls.secrets, []);
      assert.equal(await handshakeAs({ type: 'pem', cert: alice.certPem, key: alice.keyPem }), 'alice');
    });

    it('encrypted PEM with its passphrase, which becomes a secret to scrub', async function () {
      const source: CertificateSource = { type: 'pem', cert: alice.certPem, key: alice.encryptedKeyPem, passphrase: alice.passphrase };
      const tls = await loadClientTls({ certificate: source });
      assert.equal(tls.certificate?.fingerprint256, alice.fingerprint256);
      assert.deepEqual(tls.secrets, [alice.passphrase]);
      assert.equal(await handshakeAs(source), 'alice');
    });

    it('PKCS#12 with its passphrase', async function () {
      const source: CertificateSource = { type: 'pkcs12', pfx: bob.pfx, passphrase: bob.passphrase };
      const tls = await loadClientTls({ certificate: source });
      assert.equal(tls.certificate?.fingerprint256, bob.fingerprint256);
      assert.equal(await handshakeAs(source), 'bob');
    });

    it('PEM and PKCS#12 files', async function () {
      const files = { cert: path.join(dir, 'a.crt'), key: path.join(dir, 'a.key'), pfx: path.join(dir, 'b.p12') };
      await writeFile(files.cert, alice.certPem);
      await writeFile(files.key, alice.encryptedKeyPem);
      await writeFile(files.pfx, bob.pfx);
      assert.equal(await handshakeAs({ type: 'pem-file', certPath: files.cert, keyPath: files.key, passphrase: alice.passphrase }), 'alice');
      assert.equal(await handshakeAs({ type: 'pkcs12-file', pfxPath: files.pfx, passphrase: bob.passphrase }), 'bob');
    });

    it('no certificate at all: an agent without client identity, which a strict mTLS peer refuses', async function () {
      const tls = await loadClientTls({ extraCa: [pki.ca.certPem] });
      assert.equal(tls.certificate, undefined);
      const agent = createAgent(tls, { connectTimeoutMs: 5_000 });
      try {
        await assert.rejects(sendHttp(agent, { method: 'GET', url: new URL(`${origin}/`), timeoutMs: 5_000 }), (err: unknown) => {
          assert.ok(err instanceof CaraError && err.code === 'CARA_NETWORK', String(err));
          // Over TLS 1.3 the refusal is a bare close; the message must still point at the certificate.
          assert.match(err.message, /client certificate/, err.message);
          return true;
        });
      } finally {
        await agent.destroy();
      }
    });
  });

  describe('mistakes, reported at load time', function () {
    it('wrong passphrase for an encrypted PEM key, without echoing it', async function () {
      const err = await certificateError({ certificate: { type: 'pem', cert: alice.certPem, key: alice.encryptedKeyPem, passphrase: 'not-the-passphrase' } });
      assert.match(err.message, /wrong passphrase for the private key/);
      assert.ok(!err.message.includes('not-the-passphrase'));
      assert.equal(err.property, 'certificate');
    });

    it('an encrypted PEM key without passphrase', async function () {
      const err = await certificateError({ certificate: { type: 'pem', cert: alice.certPem, key: alice.encryptedKeyPem } });
      assert.match(err.message, /encrypted; a passphrase is needed/);
    });

    it('wrong or missing passphrase for PKCS#12', async function () {
      const wrong = await certificateError({ certificate: { type: 'pkcs12', pfx: bob.pfx, passphrase: 'not-the-passphrase' } });
      assert.match(wrong.message, /wrong passphrase for the PKCS#12 file/);
      assert.ok(!wrong.message.includes('not-the-passphrase'));
      const missing = await certificateError({ certificate: { type: 'pkcs12', pfx: bob.pfx } });
      assert.match(missing.message, /PKCS#12 file is encrypted; a passphrase is needed/);
    });

    it('a key that does not belong to the certificate', async function () {
      const err = await certificateError({ certificate: { type: 'pem', cert: alice.certPem, key: bob.keyPem } });
      assert.match(err.message, /private key does not belong to the certificate/);
    });

    it('material that is not PEM or not PKCS#12', async function () {
      const pem = await certificateError({ certificate: { type: 'pem', cert: 'hello', key: 'world' } });
      assert.match(pem.message, /expected PEM/);
      const p12 = await certificateError({ certificate: { type: 'pkcs12', pfx: Buffer.from('not a pfx'), passphrase: 'x' } });
      assert.match(p12.message, /PKCS#12 data is not readable/);
    });

    it('an expired or not yet valid certificate', async function () {
      const expired = pki.client('expired', { notBefore: new Date(Date.now() - 400 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) });
      const err = await certificateError({ certificate: { type: 'pem', cert: expired.certPem, key: expired.keyPem } });
      assert.match(err.message, /CN=expired.*expired on \d{4}-/);
      const future = pki.client('future', { notBefore: new Date(Date.now() + DAY_MS), notAfter: new Date(Date.now() + 400 * DAY_MS) });
      const early = await certificateError({ certificate: { type: 'pem', cert: future.certPem, key: future.keyPem } });
      assert.match(early.message, /is not valid before \d{4}-/);
      // the check uses the clock it is given
      await loadClientTls({ certificate: { type: 'pem', cert: future.certPem, key: future.keyPem } }, new Date(Date.now() + 2 * DAY_MS));
    });

    it('an unreadable file, naming the file and the reason', async function () {
      const missing = path.join(dir, 'missing.crt');
      const err = await certificateError({ certificate: { type: 'pem-file', certPath: missing, keyPath: missing } });
      assert.ok(err.message.includes(missing), err.message);
      assert.match(err.message, /ENOENT/);
      const p12 = await certificateError({ certificate: { type: 'pkcs12-file', pfxPath: dir } });
      assert.match(p12.message, /cannot read the PKCS#12 file .*EISDIR/);
    });
  });

  describe('connection pool', function () {
    it('opens a bounded number of connections for a burst, and every request is answered', async function () {
      let handshakes = 0;
      const countHandshake = (): void => {
        handshakes += 1;
      };
      server.on('secureConnection', countHandshake);
      const tls = await loadClientTls({ certificate: { type: 'pem', cert: alice.certPem, key: alice.keyPem }, extraCa: [pki.ca.certPem] });
      const agent = createAgent(tls, { connectTimeoutMs: 5_000 });
      try {
        const burst = Array.from({ length: DEFAULT_CONNECTIONS_PER_ORIGIN * 2 }, () =>
          sendHttp(agent, { method: 'GET', url: new URL(`${origin}/`), timeoutMs: 10_000 }),
        );
        const answers = await Promise.all(burst);
        assert.ok(answers.every((a) => a.statusCode === 200 && a.body.toString() === 'alice'));
        assert.ok(handshakes <= DEFAULT_CONNECTIONS_PER_ORIGIN, `${handshakes} handshakes for ${burst.length} requests`);
      } finally {
        server.off('secureConnection', countHandshake);
        await agent.destroy();
      }
    });
  });

  describe('extra CA certificates', function () {
    it('are trusted in addition to the system roots, and are needed for the sandbox server', async function () {
      const withCa = await loadClientTls({ extraCa: [pki.ca.certPem] });
      const ca = withCa.connectOptions.ca as string[];
      assert.ok(ca.includes(pki.ca.certPem));
      assert.ok(ca.length > 1, 'system roots kept');
      const without = await loadClientTls({ certificate: { type: 'pem', cert: alice.certPem, key: alice.keyPem } });
      assert.equal(without.connectOptions.ca, undefined);
      const agent = createAgent(without, { connectTimeoutMs: 5_000 });
      try {
        await assert.rejects(sendHttp(agent, { method: 'GET', url: new URL(`${origin}/`), timeoutMs: 5_000 }), (err: unknown) => {
          assert.ok(err instanceof CaraError && err.code === 'CARA_NETWORK', String(err));
          assert.match(err.message, /TLS: check the client certificate and the CA certificates/);
          return true;
        });
      } finally {
        await agent.destroy();
      }
    });

    it('are checked: garbage is reported with its position', async function () {
      const err = await certificateError({ extraCa: [pki.ca.certPem, 'not a certificate'] });
      assert.match(err.message, /CA certificate 2 is not readable/);
      assert.equal(err.property, 'ca');
      const broken = pki.ca.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!');
      await certificateError({ extraCa: [broken] });
    });
  });

  describe('expiry warning', function () {
    it('counts the days left and warns under 30', async function () {
      const soon = pki.client('soon', { notBefore: new Date(Date.now() - DAY_MS), notAfter: new Date(Date.now() + 10 * DAY_MS) });
      const tls = await loadClientTls({ certificate: { type: 'pem', cert: soon.certPem, key: soon.keyPem } });
      const info = tls.certificate;
      assert.ok(info);
      assert.ok([9, 10].includes(daysUntilExpiry(info)));
      assert.equal(expiresSoon(info), true);
      assert.equal(expiresSoon(info, new Date(Date.now() - 30 * DAY_MS)), false);
      const aliceInfo = (await loadClientTls({ certificate: { type: 'pem', cert: alice.certPem, key: alice.keyPem } })).certificate;
      assert.ok(aliceInfo);
      assert.equal(expiresSoon(aliceInfo), daysUntilExpiry(aliceInfo) < 30);
      assert.ok(daysUntilExpiry(aliceInfo) >= 30, 'the sandbox issues certificates valid for longer than the warning period');
    });
  });
});
