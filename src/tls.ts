/**
 * Certificate material -> a validated TLS identity -> one keep-alive undici Agent.
 *
 * An undici Agent keeps one Pool per origin, so one Agent per cara-config gives every node
 * that shares the config the same warm mTLS connections (a fresh handshake costs ~35x a reuse).
 */
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, rootCertificates, TLSSocket, type SecureContextOptions } from 'node:tls';
import { Agent } from 'undici';
import { CaraError } from './errors';

export type CertificateSource =
  | { type: 'pem'; cert: string | Buffer; key: string | Buffer; passphrase?: string }
  | { type: 'pem-file'; certPath: string; keyPath: string; passphrase?: string }
  | { type: 'pkcs12'; pfx: Buffer; passphrase?: string }
  | { type: 'pkcs12-file'; pfxPath: string; passphrase?: string };

export interface TlsSettings {
  /** The client certificate; without it no mTLS peer of the platform will talk to us. */
  certificate?: CertificateSource;
  /** Extra CA certificates (PEM), trusted in addition to the system's. */
  extraCa?: Array<string | Buffer>;
  /** Files holding more extra CA certificates (PEM), read at load time. */
  extraCaFiles?: string[];
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  validFrom: Date;
  validTo: Date;
  fingerprint256: string;
}

export interface ClientTls {
  /** What undici/tls.connect need; holds the secrets, so it is never logged. */
  readonly connectOptions: SecureContextOptions & { minVersion: 'TLSv1.2' };
  /** The client certificate, when one is configured. */
  readonly certificate?: CertificateInfo;
  /** Secrets to scrub from any text (passphrase). */
  readonly secrets: string[];
}

export const CERTIFICATE_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

async function readMaterial(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CaraError('CARA_CERTIFICATE', `cannot read the ${what} file "${path}" (${reason}); expected a readable file`, {
      property: what,
      cause: err,
    });
  }
}

async function materialOptions(source: CertificateSource): Promise<SecureContextOptions> {
  switch (source.type) {
    case 'pem':
      return { cert: source.cert, key: source.key, passphrase: source.passphrase };
    case 'pem-file':
      return {
        cert: await readMaterial(source.certPath, 'certificate'),
        key: await readMaterial(source.keyPath, 'private key'),
        passphrase: source.passphrase,
      };
    case 'pkcs12':
      return { pfx: source.pfx, passphrase: source.passphrase };
    case 'pkcs12-file':
      return { pfx: await readMaterial(source.pfxPath, 'PKCS#12'), passphrase: source.passphrase };
  }
}

/** Translates OpenSSL's terse messages into what the user has to fix. */
function explainContextError(err: unknown, source: CertificateSource): CaraError {
  const message = err instanceof Error ? err.message : String(err);
  const isPkcs12 = source.type === 'pkcs12' || source.type === 'pkcs12-file';
  let text: string;
  if (/mac verify failure|bad decrypt|bad password|interrupted or cancelled/i.test(message)) {
    text = source.passphrase
      ? `wrong passphrase for the ${isPkcs12 ? 'PKCS#12 file' : 'private key'}`
      : `the ${isPkcs12 ? 'PKCS#12 file' : 'private key'} is encrypted; a passphrase is needed`;
  } else if (/key values mismatch/i.test(message)) {
    text = 'the private key does not belong to the certificate; expected the key issued with this certificate';
  } else if (/no start line|bad base64|not enough data|header too long|asn1|wrong tag|unsupported/i.test(message)) {
    text = isPkcs12
      ? 'the PKCS#12 data is not readable; expected a .p12/.pfx file'
      : 'the certificate or key is not readable; expected PEM ("-----BEGIN CERTIFICATE-----" / "-----BEGIN PRIVATE KEY-----")';
  } else {
    text = `the client certificate cannot be used: ${message}`;
  }
  return new CaraError('CARA_CERTIFICATE', text, { property: 'certificate', cause: err });
}

/** Reads the leaf certificate back out of a built context: works the same for PEM and PKCS#12. */
function leafCertificate(options: SecureContextOptions): X509Certificate | undefined {
  const socket = new TLSSocket(null as never, { secureContext: createSecureContext(options) });
  try {
    const raw = socket.getCertificate();
    return raw && 'raw' in raw && raw.raw ? new X509Certificate(raw.raw) : undefined;
  } finally {
    socket.destroy();
  }
}

function describe(cert: X509Certificate): CertificateInfo {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}

function checkValidity(info: CertificateInfo, now: Date): void {
  if (now < info.validFrom) {
    throw new CaraError('CARA_CERTIFICATE', `the client certificate (${info.subject}) is not valid before ${info.validFrom.toISOString()}`, {
      property: 'certificate',
    });
  }
  if (now > info.validTo) {
    throw new CaraError('CARA_CERTIFICATE', `the client certificate (${info.subject}) expired on ${info.validTo.toISOString()}; expected a current certificate issued by CARA`, {
      property: 'certificate',
    });
  }
}

function validateCa(extraCa: Array<string | Buffer>): void {
  for (const [index, pem] of extraCa.entries()) {
    for (const block of String(pem).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? ['']) {
      try {
        new X509Certificate(block);
      } catch (err) {
        throw new CaraError('CARA_CERTIFICATE', `CA certificate ${index + 1} is not readable; expected PEM certificates`, { property: 'ca', cause: err });
      }
    }
  }
}

/** Loads and checks the material once, at deploy, so a bad file is reported there, not per message. */
export async function loadClientTls(settings: TlsSettings, now: Date = new Date()): Promise<ClientTls> {
  const caFromFiles = await Promise.all((settings.extraCaFiles ?? []).map((path) => readMaterial(path, 'CA certificate')));
  const extraCa = [...(settings.extraCa ?? []), ...caFromFiles];
  validateCa(extraCa);
  const ca = extraCa.length > 0 ? [...rootCertificates, ...extraCa.map(String)] : undefined;
  const base = { minVersion: 'TLSv1.2' as const, ...(ca ? { ca } : {}) };
  if (!settings.certificate) return { connectOptions: base, secrets: [] };

  const material = await materialOptions(settings.certificate);
  let leaf: X509Certificate | undefined;
  try {
    leaf = leafCertificate(material);
  } catch (err) {
    throw explainContextError(err, settings.certificate);
  }
  if (!leaf) throw new CaraError('CARA_CERTIFICATE', 'no certificate found in the client certificate material', { property: 'certificate' });
  const certificate = describe(leaf);
  checkValidity(certificate, now);
  const passphrase = settings.certificate.passphrase;
  return { connectOptions: { ...material, ...base }, certificate, secrets: passphrase ? [passphrase] : [] };
}

/** Days until the certificate expires (negative once expired). */
export function daysUntilExpiry(certificate: CertificateInfo, now: Date = new Date()): number {
  return Math.floor((certificate.validTo.getTime() - now.getTime()) / DAY_MS);
}

export function expiresSoon(certificate: CertificateInfo, now: Date = new Date()): boolean {
  return daysUntilExpiry(certificate, now) < CERTIFICATE_WARNING_DAYS;
}

export interface AgentOptions {
  connectTimeoutMs: number;
  /** How long an idle connection is kept for reuse. */
  keepAliveTimeoutMs?: number;
  /** Connections per origin (default 32); more requests wait for a free connection. */
  connectionsPerOrigin?: number;
}

export const DEFAULT_CONNECTIONS_PER_ORIGIN = 32;

export function createAgent(tls: ClientTls, options: AgentOptions): Agent {
  // Built once: given `ca` and key material instead, tls.connect would parse ~145 root
  // certificates for every new connection (30-115 ms of blocked event loop each, see bench/).
  const secureContext = createSecureContext(tls.connectOptions);
  return new Agent({
    connect: { secureContext, minVersion: tls.connectOptions.minVersion, timeout: options.connectTimeoutMs },
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    keepAliveMaxTimeout: 600_000,
    // Bounded: a burst of messages must not become a burst of handshakes.
    connections: options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN,
    // Pipelining stays at 1: FHIR servers behind proxies rarely support it safely.
    pipelining: 1,
  });
}
