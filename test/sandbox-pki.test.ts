import { strict as assert } from 'node:assert';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { createPki, loadOrCreatePki, prepareKeys, type Pki } from '../sandbox/pki';

const DAY = 86_400_000;

/**
 * A real mutual-TLS handshake against a server that trusts `pki`'s CA and refuses
 * anything else; resolves with the CN the server saw, rejects when the handshake fails.
 */
async function handshake(pki: Pki, client: tls.ConnectionOptions): Promise<string> {
  const server = tls.createServer({
    key: pki.server.keyPem,
    cert: pki.server.certPem,
    ca: [pki.ca.certPem],
    requestCert: true,
    rejectUnauthorized: true,
  });
  const seen = new Promise<string>((resolve) =>
    server.once('secureConnection', (socket) => {
      resolve(String(socket.getPeerX509Certificate()?.subject.match(/CN=(.*)/)?.[1]));
      socket.end('ok');
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.ca.certPem, ...client }, () => {
        seen.then(resolve, reject);
      });
      socket.on('data', () => socket.end());
      socket.on('error', reject);
      // TLS 1.3: the client may finish before the server refuses its certificate and hangs up
      socket.on('close', () => reject(new Error('the server closed the connection without accepting the client')));
    });
  } finally {
    server.close();
  }
}

describe('sandbox PKI', function () {
  let pki: Pki;

  before(async function () {
    await prepareKeys(6);
    pki = createPki();
  });

  it('has a self-signed CA and a server certificate for localhost, 127.0.0.1 and ::1', function () {
    const ca = new X509Certificate(pki.ca.certPem);
    const server = new X509Certificate(pki.server.certPem);
    assert.ok(ca.ca, 'the root is a CA');
    assert.ok(ca.verify(ca.publicKey), 'the root is self-signed');
    assert.ok(!server.ca);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey), 'the server certificate is signed by the CA');
    assert.ok(server.checkHost('localhost'));
    assert.ok(server.checkIP('127.0.0.1'));
    assert.ok(server.checkIP('::1'));
    assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.ok(server.checkPrivateKey(createPrivateKey(pki.server.keyPem)));
  });

  it('issues client certificates (clientAuth) signed by the CA, cached per CN', function () {
    const client = pki.client('tcu-bestclinic/scp-importer');
    const cert = new X509Certificate(client.certPem);
    assert.equal(client.commonName, 'tcu-bestclinic/scp-importer');
    assert.match(cert.subject, /^CN=tcu-bestclinic\/scp-importer$/m);
    assert.ok(cert.verify(new X509Certificate(pki.ca.certPem).publicKey));
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.ok(cert.checkPrivateKey(createPrivateKey(client.keyPem)));
    assert.equal(client.fingerprint256, cert.fingerprint256);
    assert.equal(pki.client('tcu-bestclinic/scp-importer'), client, 'same CN without options: the cached identity');
    assert.notEqual(pki.client('tcu-other').fingerprint256, client.fingerprint256);
    assert.notEqual(client.passphrase, pki.client('tcu-other').passphrase, 'passphrases are per identity');
  });

  it('issues a fresh certificate with the validity asked for', function () {
    const notBefore = new Date(Date.now() - 10 * DAY);
    const notAfter = new Date(Date.now() - DAY);
    const expired = pki.client('tcu-bestclinic/scp-importer', { notBefore, notAfter });
    assert.notEqual(expired.fingerprint256, pki.client('tcu-bestclinic/scp-importer').fingerprint256);
    const cert = new X509Certificate(expired.certPem);
    assert.equal(Math.floor(Date.parse(cert.validTo) / 1000), Math.floor(notAfter.getTime() / 1000));
    assert.equal(Math.floor(Date.parse(cert.validFrom) / 1000), Math.floor(notBefore.getTime() / 1000));
  });

  it('encrypts the key with the passphrase (PKCS#8) and nothing else opens it', function () {
    const client = pki.client('tcu-bestclinic/scp-importer');
    assert.match(client.encryptedKeyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const opened = createPrivateKey({ key: client.encryptedKeyPem, passphrase: client.passphrase });
    assert.ok(opened.equals(createPrivateKey(client.keyPem)));
    assert.throws(() => createPrivateKey({ key: client.encryptedKeyPem, passphrase: 'wrong' }));
  });

  it('builds a PKCS#12 that Node (OpenSSL 3) loads with the passphrase and refuses without it', function () {
    const client = pki.client('tcu-bestclinic/scp-importer');
    assert.doesNotThrow(() => tls.createSecureContext({ pfx: client.pfx, passphrase: client.passphrase }));
    assert.throws(() => tls.createSecureContext({ pfx: client.pfx, passphrase: 'wrong' }));
  });

  it('lets a client authenticate with its PKCS#12 or its PEM pair in a real mTLS handshake', async function () {
    const client = pki.client('tcu-bestclinic/scp-importer');
    assert.equal(await handshake(pki, { pfx: client.pfx, passphrase: client.passphrase }), client.commonName);
    assert.equal(await handshake(pki, { cert: client.certPem, key: client.encryptedKeyPem, passphrase: client.passphrase }), client.commonName);
  });

  it('makes independent CAs: a certificate of another PKI is refused', async function () {
    await prepareKeys(3);
    const other = createPki();
    const stranger = other.client('tcu-bestclinic/scp-importer');
    assert.ok(!new X509Certificate(stranger.certPem).verify(new X509Certificate(pki.ca.certPem).publicKey));
    await assert.rejects(handshake(pki, { cert: stranger.certPem, key: stranger.keyPem }));
  });

  describe('loadOrCreatePki', function () {
    let dir: string;

    beforeEach(async function () {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cara-pki-'));
    });

    afterEach(async function () {
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('writes the PKI (keys 0600) and loads the same one on the next start', async function () {
      const names = ['tcu-bestclinic/scp-importer', 'tcu-reader'];
      const { pki: created, files } = await loadOrCreatePki(dir, names);
      const importerFiles = files.clients['tcu-bestclinic/scp-importer'];
      assert.equal(await fs.readFile(files.caCert, 'utf8'), created.ca.certPem);
      assert.equal(await fs.readFile(files.serverKey, 'utf8'), created.server.keyPem);
      const passphrase = (await fs.readFile(importerFiles.passphraseFile, 'utf8')).trim();
      assert.equal(passphrase, created.client('tcu-bestclinic/scp-importer').passphrase);
      const pfx = await fs.readFile(importerFiles.pfx);
      assert.doesNotThrow(() => tls.createSecureContext({ pfx, passphrase }));
      assert.ok(path.dirname(importerFiles.cert) === files.dir, "a '/' in the CN does not make a sub-folder");

      for (const secret of [files.serverKey, importerFiles.key, importerFiles.encryptedKey, importerFiles.pfx, importerFiles.passphraseFile]) {
        assert.equal((await fs.stat(secret)).mode & 0o777, 0o600, secret);
      }

      const { pki: loaded } = await loadOrCreatePki(dir, [...names, 'tcu-new']);
      assert.equal(loaded.ca.certPem, created.ca.certPem);
      assert.equal(loaded.server.certPem, created.server.certPem);
      for (const name of names) assert.equal(loaded.client(name).fingerprint256, created.client(name).fingerprint256);
      const fresh = loaded.client('tcu-new');
      assert.ok(new X509Certificate(fresh.certPem).verify(new X509Certificate(created.ca.certPem).publicKey), 'new clients come from the same CA');
    });

    it('replaces an expired client certificate and starts over when the CA is unusable', async function () {
      const { pki: created, files } = await loadOrCreatePki(dir, ['tcu-reader']);
      const expired = created.client('tcu-reader', { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
      await fs.writeFile(files.clients['tcu-reader'].cert, expired.certPem);
      await fs.writeFile(files.clients['tcu-reader'].key, expired.keyPem);

      const { pki: renewed } = await loadOrCreatePki(dir, ['tcu-reader']);
      assert.equal(renewed.ca.certPem, created.ca.certPem);
      const reader = new X509Certificate(renewed.client('tcu-reader').certPem);
      assert.ok(Date.parse(reader.validTo) > Date.now(), 'a valid certificate replaced the expired one');
      assert.equal(await fs.readFile(files.clients['tcu-reader'].cert, 'utf8'), renewed.client('tcu-reader').certPem);

      await fs.writeFile(files.caCert, 'garbage');
      const { pki: restarted } = await loadOrCreatePki(dir, ['tcu-reader']);
      assert.notEqual(restarted.ca.certPem, created.ca.certPem);
      assert.ok(new X509Certificate(restarted.client('tcu-reader').certPem).verify(new X509Certificate(restarted.ca.certPem).publicKey));
    });
  });
});
