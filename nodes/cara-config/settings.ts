/**
 * The cara-config node definition + credentials -> CaraClientSettings.
 *
 * Pure: no Node-RED import, so every rule here (presets, URL checks, certificate sources) is
 * plain data in, settings or a CaraError out. The node passes in a lookup for tls-config nodes
 * and a translator for its messages.
 */
import type { SecureContextOptions } from 'node:tls';
import { ENVIRONMENTS, type CaraClientSettings, type CaraEnvironment, type EnvironmentUrls } from '../../src/client';
import { CaraError } from '../../src/errors';
import type { CertificateSource, TlsSettings } from '../../src/tls';

export const ENVIRONMENT_NAMES: readonly CaraEnvironment[] = ['validation', 'integration', 'production', 'sandbox', 'custom'];
export type EnvironmentName = CaraEnvironment;

export const CERTIFICATE_SOURCES = ['pem', 'pem-file', 'pkcs12', 'pkcs12-file', 'tls-config'] as const;
export type CertificateSourceName = (typeof CERTIFICATE_SOURCES)[number];

/** The non-secret settings, as the editor stores them in flows.json. */
export interface CaraConfigDefinition {
  environment?: string;
  issuer?: string;
  tokenEndpoint?: string;
  introspectionEndpoint?: string;
  jwksUri?: string;
  aimUrl?: string;
  fhirBaseUrl?: string;
  sandboxPort?: string | number;
  clientId?: string;
  scope?: string;
  certificateSource?: string;
  certPath?: string;
  keyPath?: string;
  pfxPath?: string;
  /** A file of extra CA certificates (PEM), e.g. the sandbox CA. */
  caPath?: string;
  tlsConfig?: string;
  timeout?: string | number;
  verifyTokens?: boolean;
}

/** The secrets: only ever in the credentials file, never in flows.json or an export. */
export interface CaraConfigCredentials {
  certPem?: string;
  keyPem?: string;
  /** The .p12/.pfx file, base64. */
  pfx?: string;
  passphrase?: string;
  /** Extra CA certificates (PEM), e.g. the sandbox CA. */
  caPem?: string;
}

/** What a core tls-config node offers (05-tls.js): it copies its material into `opts`. */
export interface TlsConfigNodeLike {
  valid?: boolean;
  addTLSOptions(opts: SecureContextOptions & { rejectUnauthorized?: boolean }): SecureContextOptions & { rejectUnauthorized?: boolean };
}

export type ServiceUrls = EnvironmentUrls;

export const DEFAULT_SANDBOX_PORT = 8443;
export const DEFAULT_TIMEOUT_SECONDS = 30;

/** The public CARA environments (platform.md), from the library: one source of truth. */
export const PRESETS: Record<Exclude<EnvironmentName, 'sandbox' | 'custom'>, ServiceUrls> = ENVIRONMENTS;

/** The local sandbox listens on three consecutive ports: IAM, AIM, FHIR (8443, 8444, 8445 by default). */
export function sandboxUrls(port: number = DEFAULT_SANDBOX_PORT): ServiceUrls {
  return {
    issuer: `https://localhost:${port}/realms/cara`,
    aimUrl: `https://localhost:${port + 1}`,
    fhirBaseUrl: `https://localhost:${port + 2}/fhir`,
  };
}

export type Translate = (key: string, params?: Record<string, string | number>) => string;

export interface ReadSettingsOptions {
  t: Translate;
  /** Finds a core tls-config node by id. */
  tlsConfigNode(id: string): TlsConfigNodeLike | null;
}

export interface ReadSettingsResult {
  settings: CaraClientSettings;
  /** Problems worth a warning at deploy that do not stop the node. */
  warnings: string[];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : value === undefined || value === null ? '' : String(value).trim();
}

function configError(t: Translate, key: string, property: string, params: Record<string, string | number> = {}): CaraError {
  return new CaraError('CARA_CONFIG', t(`cara-config.errors.${key}`, { property, ...params }), { property });
}

/** An optional https URL setting; anything but https is refused (every CARA peer is mTLS). */
function httpsUrl(t: Translate, value: unknown, property: string): string | undefined {
  const raw = text(value);
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw configError(t, 'badUrl', property);
  }
  if (url.protocol !== 'https:') throw configError(t, 'notHttps', property);
  return raw.replace(/\/+$/, '');
}

function positiveNumber(t: Translate, value: unknown, fallback: number, property: string, max: number): number {
  const raw = text(value);
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw configError(t, 'badNumber', property, { max });
  return n;
}

function environmentOf(t: Translate, value: unknown): EnvironmentName {
  const name = text(value) || 'validation';
  if (!(ENVIRONMENT_NAMES as readonly string[]).includes(name)) throw configError(t, 'badEnvironment', 'environment');
  return name as EnvironmentName;
}

/** The service URLs of a preset environment ('custom' has none: its URLs are typed in). */
export function serviceUrls(def: CaraConfigDefinition, t: Translate): Partial<ServiceUrls> {
  const environment = environmentOf(t, def.environment);
  if (environment === 'custom') return {};
  if (environment === 'sandbox') {
    const port = positiveNumber(t, def.sandboxPort, DEFAULT_SANDBOX_PORT, 'sandboxPort', 65533);
    if (!Number.isInteger(port)) throw configError(t, 'badNumber', 'sandboxPort', { max: 65533 });
    return sandboxUrls(port);
  }
  return PRESETS[environment];
}

function pemSource(t: Translate, credentials: CaraConfigCredentials): CertificateSource | undefined {
  const cert = text(credentials.certPem);
  const key = text(credentials.keyPem);
  if (!cert && !key) return undefined;
  if (!cert || !key) throw configError(t, cert ? 'missingKey' : 'missingCertificate', cert ? 'keyPem' : 'certPem');
  return { type: 'pem', cert, key, passphrase: credentials.passphrase || undefined };
}

function tlsConfigSource(t: Translate, def: CaraConfigDefinition, options: ReadSettingsOptions, warnings: string[]): {
  certificate?: CertificateSource;
  ca?: string;
} {
  const id = text(def.tlsConfig);
  const node = id ? options.tlsConfigNode(id) : null;
  if (!node || typeof node.addTLSOptions !== 'function') throw configError(t, 'missingTlsConfig', 'tlsConfig');
  if (node.valid === false) throw configError(t, 'invalidTlsConfig', 'tlsConfig');
  const material = node.addTLSOptions({});
  // Server verification is not the tls-config's to switch off: CARA peers are always verified.
  if (material.rejectUnauthorized === false) warnings.push(t('cara-config.warn.tlsVerifyForced'));
  const ca = material.ca === undefined ? undefined : [material.ca].flat().map(String).join('\n');
  if (!material.cert && !material.key) return { ca };
  if (!material.cert || !material.key) throw configError(t, material.cert ? 'missingKey' : 'missingCertificate', 'tlsConfig');
  const pem = (v: unknown): string => [v].flat().map(String).join('\n');
  const passphrase = typeof material.passphrase === 'string' && material.passphrase ? material.passphrase : undefined;
  return { certificate: { type: 'pem', cert: pem(material.cert), key: pem(material.key), passphrase }, ca };
}

function certificateSource(
  t: Translate,
  def: CaraConfigDefinition,
  credentials: CaraConfigCredentials,
  options: ReadSettingsOptions,
  warnings: string[],
): { certificate?: CertificateSource; ca?: string } {
  const source = text(def.certificateSource) || 'pem';
  const passphrase = credentials.passphrase || undefined;
  switch (source as CertificateSourceName) {
    case 'pem':
      return { certificate: pemSource(t, credentials) };
    case 'pem-file': {
      const certPath = text(def.certPath);
      const keyPath = text(def.keyPath);
      if (!certPath && !keyPath) return {};
      if (!certPath || !keyPath) throw configError(t, certPath ? 'missingKey' : 'missingCertificate', certPath ? 'keyPath' : 'certPath');
      return { certificate: { type: 'pem-file', certPath, keyPath, passphrase } };
    }
    case 'pkcs12': {
      const pfx = text(credentials.pfx);
      if (!pfx) return {};
      const data = Buffer.from(pfx.replace(/^data:[^,]*,/, ''), 'base64');
      if (data.length === 0) throw configError(t, 'badPfx', 'pfx');
      return { certificate: { type: 'pkcs12', pfx: data, passphrase } };
    }
    case 'pkcs12-file': {
      const pfxPath = text(def.pfxPath);
      return pfxPath ? { certificate: { type: 'pkcs12-file', pfxPath, passphrase } } : {};
    }
    case 'tls-config':
      return tlsConfigSource(t, def, options, warnings);
    default:
      throw configError(t, 'badCertificateSource', 'certificateSource');
  }
}

/** Reads and checks everything that can be checked without touching the network or the files. */
export function readSettings(
  def: CaraConfigDefinition,
  credentials: CaraConfigCredentials,
  options: ReadSettingsOptions,
): ReadSettingsResult {
  const { t } = options;
  const warnings: string[] = [];
  const clientId = text(def.clientId);
  if (!clientId) throw configError(t, 'missingClientId', 'clientId');

  // Outside 'custom' the URL fields are a read-only preview in the editor: values left in
  // flows.json from an earlier custom setup must not silently override the preset.
  const custom = environmentOf(t, def.environment) === 'custom';
  const preset = serviceUrls(def, t);
  const url = (name: keyof CaraConfigDefinition & keyof CaraClientSettings): string | undefined =>
    custom ? httpsUrl(t, def[name], name) : undefined;
  const issuer = url('issuer') ?? preset.issuer;
  const tokenEndpoint = url('tokenEndpoint');
  if (!issuer && !tokenEndpoint) throw configError(t, 'missingIssuer', 'issuer');

  const { certificate, ca } = certificateSource(t, def, credentials, options, warnings);
  if (!certificate) warnings.push(t('cara-config.warn.noCertificate'));
  const extraCa = [text(credentials.caPem), text(ca)].filter((pem) => pem.length > 0);
  const caPath = text(def.caPath);
  const tls: TlsSettings = { certificate, ...(extraCa.length > 0 ? { extraCa } : {}), ...(caPath ? { extraCaFiles: [caPath] } : {}) };

  const settings: CaraClientSettings = {
    clientId,
    scope: text(def.scope).split(/\s+/).filter(Boolean).join(' ') || undefined,
    issuer,
    tokenEndpoint,
    introspectionEndpoint: url('introspectionEndpoint'),
    jwksUri: url('jwksUri'),
    aimUrl: url('aimUrl') ?? preset.aimUrl,
    fhirBaseUrl: url('fhirBaseUrl') ?? preset.fhirBaseUrl,
    tls,
    timeoutMs: positiveNumber(t, def.timeout, DEFAULT_TIMEOUT_SECONDS, 'timeout', 600) * 1000,
  };
  return { settings, warnings };
}
