/**
 * Throw-away PKI of the local CARA sandbox: a root CA, a server certificate for
 * localhost and client certificates (the "technical users"), all in memory, optionally
 * persisted to a folder so that `npm start` keeps the same certificates between runs.
 *
 * Keys come from node:crypto (fast native RSA); node-forge only builds and signs the
 * X.509 certificates and the PKCS#12 files.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, generateKeyPairSync, KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import forge from 'node-forge';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface ClientIdentity extends KeyPairPem {
  commonName: string;
  /** The same key, PKCS#8 encrypted (AES-256-CBC) with `passphrase`. */
  encryptedKeyPem: string;
  /** PKCS#12 (certificate + key + CA chain) protected by `passphrase` (3DES, loads in OpenSSL 3). */
  pfx: Buffer;
  /** Random per identity. */
  passphrase: string;
  /** `new X509Certificate(certPem).fingerprint256`. */
  fingerprint256: string;
}

export interface ClientCertificateOptions {
  notBefore?: Date;
  notAfter?: Date;
}

export interface Pki {
  /** Self-signed root CA. */
  ca: KeyPairPem;
  /** Signed by `ca`; SAN DNS:localhost, IP:127.0.0.1, IP:::1; serverAuth. */
  server: KeyPairPem;
  /** Issues a client certificate (clientAuth EKU) signed by the CA. Without options the result is cached per CN. */
  client(commonName: string, options?: ClientCertificateOptions): ClientIdentity;
}

export interface PkiClientFiles {
  cert: string;
  key: string;
  encryptedKey: string;
  pfx: string;
  passphraseFile: string;
}

export interface PkiFiles {
  dir: string;
  caCert: string;
  /** The CA key is written too, so that a later start can issue more clients. */
  caKey: string;
  serverCert: string;
  serverKey: string;
  clients: Record<string, PkiClientFiles>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates of a persisted PKI are replaced when they expire within this margin. */
const RENEWAL_MARGIN_MS = 7 * DAY_MS;
const ORGANIZATION = 'CARA local sandbox';

/** The private key stays a native KeyObject (signing in JS is slow); forge only sees the public half. */
interface SandboxKeyPair {
  privateKey: KeyObject;
  publicKey: forge.pki.PublicKey;
  keyPem: string;
}

/**
 * RSA-2048 generation costs ~300 ms of one core here, and the API is synchronous. A few
 * keys are therefore made ahead, one at a time in libuv's thread pool (so that at most
 * one core is taken from the caller, e.g. while mocha loads the test files), and taken
 * from this pool when ready; otherwise a key is made synchronously.
 */
const KEY_POOL_TARGET = 6;
const keyPool: KeyObject[] = [];
let keyInProgress = false;

function topUpKeyPool(): void {
  if (keyInProgress || keyPool.length >= KEY_POOL_TARGET) return;
  keyInProgress = true;
  generateKeyPair('rsa', { modulusLength: 2048 }, (err, _publicKey, privateKey) => {
    keyInProgress = false;
    if (err) return; // the synchronous path will report a real problem
    keyPool.push(privateKey);
    topUpKeyPool();
  });
}
topUpKeyPool();

const generateKeyAsync = (): Promise<KeyObject> =>
  new Promise((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, _publicKey, privateKey) => (err ? reject(err) : resolve(privateKey))),
  );

/**
 * Makes sure `count` keys are ready, generating the missing ones in parallel in the thread
 * pool. Optional: call it (e.g. in a test's `before`) ahead of `createPki()`/`client()`
 * to make those fast; the synchronous API works without it.
 */
export async function prepareKeys(count: number): Promise<void> {
  const missing = Math.max(0, count - keyPool.length);
  const keys = await Promise.all(Array.from({ length: missing }, generateKeyAsync));
  keyPool.push(...keys);
}

function newKeyPair(): SandboxKeyPair {
  const privateKey = keyPool.shift() ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  topUpKeyPool();
  return importKeyPair(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
}

function importKeyPair(keyPem: string): SandboxKeyPair {
  const privateKey = createPrivateKey(keyPem);
  const spkiPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, publicKey: forge.pki.publicKeyFromPem(spkiPem), keyPem };
}

/** Same result as forge's `cert.sign(key, sha256)`, with the RSA operation done natively. */
function signNatively(cert: forge.pki.Certificate, privateKey: KeyObject): void {
  const algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.signatureOid = algorithmOid;
  cert.siginfo.algorithmOid = algorithmOid;
  cert.md = forge.md.sha256.create();
  // getTBSCertificate exists in forge but is missing from @types/node-forge
  const tbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  (cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', tbsDer, privateKey).toString('binary');
}

/** A positive random serial (the high bit cleared so DER does not read it as negative). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString('hex');
}

interface CertificateSpec {
  subjectCn: string;
  publicKey: forge.pki.PublicKey;
  issuer: { cert: forge.pki.Certificate; privateKey: KeyObject } | { selfSignedWith: KeyObject };
  notBefore: Date;
  notAfter: Date;
  extensions: object[];
}

function signCertificate(spec: CertificateSpec): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = spec.publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = spec.notBefore;
  cert.validity.notAfter = spec.notAfter;
  const subject = [
    { name: 'commonName', value: spec.subjectCn },
    { name: 'organizationName', value: ORGANIZATION },
  ];
  cert.setSubject(subject);
  const signingKey = 'selfSignedWith' in spec.issuer ? spec.issuer.selfSignedWith : spec.issuer.privateKey;
  cert.setIssuer('selfSignedWith' in spec.issuer ? subject : spec.issuer.cert.subject.attributes);
  cert.setExtensions([...spec.extensions, { name: 'subjectKeyIdentifier' }]);
  signNatively(cert, signingKey);
  return cert;
}

/** Backdated by a minute so that small clock differences never make a fresh certificate "not yet valid". */
function defaultValidity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + days * DAY_MS) };
}

function createCa(): { cert: forge.pki.Certificate; keys: SandboxKeyPair } {
  const keys = newKeyPair();
  const cert = signCertificate({
    subjectCn: 'CARA Sandbox Root CA',
    publicKey: keys.publicKey,
    issuer: { selfSignedWith: keys.privateKey },
    ...defaultValidity(3650),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { cert, keys };
}

function createServer(ca: { cert: forge.pki.Certificate; keys: SandboxKeyPair }): KeyPairPem {
  const keys = newKeyPair();
  const cert = signCertificate({
    subjectCn: 'localhost',
    publicKey: keys.publicKey,
    issuer: { cert: ca.cert, privateKey: ca.keys.privateKey },
    ...defaultValidity(825),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

function randomPassphrase(): string {
  return randomBytes(18).toString('base64url');
}

function buildClientIdentity(
  commonName: string,
  keyPem: string,
  certPem: string,
  caCertPem: string,
  passphrase: string,
): ClientIdentity {
  const encryptedKeyPem = createPrivateKey(keyPem)
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    .toString();
  // 3DES key bag + SHA-1 MAC: read by OpenSSL 3 without its legacy provider (which RC2
  // would need), and by older tools (Java keytool, Windows) as well.
  const p12 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(keyPem),
    [forge.pki.certificateFromPem(certPem), forge.pki.certificateFromPem(caCertPem)],
    passphrase,
    { algorithm: '3des', friendlyName: commonName },
  );
  const pfx = Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary');
  return {
    commonName,
    certPem,
    keyPem,
    encryptedKeyPem,
    pfx,
    passphrase,
    fingerprint256: new X509Certificate(certPem).fingerprint256,
  };
}

interface PkiState {
  ca: { cert: forge.pki.Certificate; keys: SandboxKeyPair };
  server: KeyPairPem;
  /** Identities already issued (from disk or earlier calls), reused for calls without options. */
  clients: Map<string, ClientIdentity>;
}

function pkiFromState(state: PkiState): Pki {
  const caPem: KeyPairPem = { certPem: forge.pki.certificateToPem(state.ca.cert), keyPem: state.ca.keys.keyPem };
  const issue = (commonName: string, options: ClientCertificateOptions): ClientIdentity => {
    const keys = newKeyPair();
    const validity = defaultValidity(825);
    const cert = signCertificate({
      subjectCn: commonName,
      publicKey: keys.publicKey,
      issuer: { cert: state.ca.cert, privateKey: state.ca.keys.privateKey },
      notBefore: options.notBefore ?? validity.notBefore,
      notAfter: options.notAfter ?? validity.notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', clientAuth: true },
      ],
    });
    return buildClientIdentity(commonName, keys.keyPem, forge.pki.certificateToPem(cert), caPem.certPem, randomPassphrase());
  };
  return {
    ca: caPem,
    server: state.server,
    client(commonName: string, options?: ClientCertificateOptions): ClientIdentity {
      if (!commonName) throw new Error('A client certificate needs a non-empty common name.');
      if (options && (options.notBefore || options.notAfter)) return issue(commonName, options);
      let identity = state.clients.get(commonName);
      if (!identity) {
        identity = issue(commonName, {});
        state.clients.set(commonName, identity);
      }
      return identity;
    },
  };
}

/** A new, independent CA with its server certificate, in memory. */
export function createPki(): Pki {
  const ca = createCa();
  return pkiFromState({ ca, server: createServer(ca), clients: new Map() });
}

// ---------------------------------------------------------------------------------------
// Persistence for the sandbox's `npm start`
// ---------------------------------------------------------------------------------------

/** A CN becomes a file name: anything outside [A-Za-z0-9._-] is replaced (CNs may hold '/'). */
function fileStem(commonName: string): string {
  return commonName.replace(/[^A-Za-z0-9._-]/g, '_');
}

function filesFor(dir: string, clientNames: string[]): PkiFiles {
  const clients: Record<string, PkiClientFiles> = {};
  for (const name of clientNames) {
    const stem = path.join(dir, `client-${fileStem(name)}`);
    clients[name] = {
      cert: `${stem}.crt`,
      key: `${stem}.key`,
      encryptedKey: `${stem}.enc.key`,
      pfx: `${stem}.p12`,
      passphraseFile: `${stem}.passphrase`,
    };
  }
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    clients,
  };
}

function stillValid(certPem: string, issuerPem: string): boolean {
  const cert = new X509Certificate(certPem);
  const issuer = new X509Certificate(issuerPem);
  const validTo = Date.parse(cert.validTo);
  const validFrom = Date.parse(cert.validFrom);
  const now = Date.now();
  return validFrom <= now && validTo - RENEWAL_MARGIN_MS > now && cert.verify(issuer.publicKey);
}

function keyMatches(certPem: string, keyPem: string): boolean {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads a persisted PKI; undefined when anything is missing, unreadable or (nearly) expired. */
async function loadState(files: PkiFiles): Promise<PkiState | undefined> {
  const [caCert, caKey, serverCert, serverKey] = await Promise.all(
    [files.caCert, files.caKey, files.serverCert, files.serverKey].map(readIfPresent),
  );
  if (!caCert || !caKey || !serverCert || !serverKey) return undefined;
  try {
    if (!stillValid(caCert, caCert) || !stillValid(serverCert, caCert)) return undefined;
    if (!keyMatches(caCert, caKey) || !keyMatches(serverCert, serverKey)) return undefined;
    const state: PkiState = {
      ca: { cert: forge.pki.certificateFromPem(caCert), keys: importKeyPair(caKey) },
      server: { certPem: serverCert, keyPem: serverKey },
      clients: new Map(),
    };
    for (const [name, clientFiles] of Object.entries(files.clients)) {
      const [cert, key, passphrase] = await Promise.all(
        [clientFiles.cert, clientFiles.key, clientFiles.passphraseFile].map(readIfPresent),
      );
      // A missing or expiring client alone is simply issued again below.
      if (!cert || !key || !passphrase || !stillValid(cert, caCert) || !keyMatches(cert, key)) continue;
      state.clients.set(name, buildClientIdentity(name, key, cert, caCert, passphrase.trim()));
    }
    return state;
  } catch {
    return undefined;
  }
}

async function writeSecret(file: string, data: string | Buffer): Promise<void> {
  await fs.writeFile(file, data, { mode: 0o600 });
  await fs.chmod(file, 0o600); // writeFile keeps the mode of an existing file
}

async function writePublic(file: string, data: string): Promise<void> {
  await fs.writeFile(file, data, { mode: 0o644 });
}

async function writeState(pki: Pki, files: PkiFiles): Promise<void> {
  await fs.mkdir(files.dir, { recursive: true, mode: 0o700 });
  await writePublic(files.caCert, pki.ca.certPem);
  await writeSecret(files.caKey, pki.ca.keyPem);
  await writePublic(files.serverCert, pki.server.certPem);
  await writeSecret(files.serverKey, pki.server.keyPem);
  for (const [name, clientFiles] of Object.entries(files.clients)) {
    const identity = pki.client(name);
    await writePublic(clientFiles.cert, identity.certPem);
    await writeSecret(clientFiles.key, identity.keyPem);
    await writeSecret(clientFiles.encryptedKey, identity.encryptedKeyPem);
    await writeSecret(clientFiles.pfx, identity.pfx);
    await writeSecret(clientFiles.passphraseFile, `${identity.passphrase}\n`);
  }
}

/**
 * For the sandbox's first start: loads the PKI from `dir` when present (and its
 * certificates are still valid), otherwise creates it and writes PEM/P12 files +
 * passphrase files there (mode 0600 for keys). Clients missing on disk are issued
 * and written; existing ones are kept.
 */
export async function loadOrCreatePki(dir: string, clientNames: string[]): Promise<{ pki: Pki; files: PkiFiles }> {
  const files = filesFor(path.resolve(dir), clientNames);
  const loaded = await loadState(files);
  let state: PkiState;
  if (loaded) {
    state = loaded;
    await prepareKeys(clientNames.filter((name) => !loaded.clients.has(name)).length);
  } else {
    await prepareKeys(2 + clientNames.length);
    const ca = createCa();
    state = { ca, server: createServer(ca), clients: new Map() };
  }
  const pki = pkiFromState(state);
  await writeState(pki, files);
  return { pki, files };
}
