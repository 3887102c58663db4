/**
 * "Test connection" in the cara-config dialog: the dialog's CURRENT values (also secrets typed
 * or uploaded but not yet deployed) -> a throw-away CaraClient -> one token request -> a summary
 * the dialog shows. The token itself never leaves this file: not in the answer, not in a log.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { createCaraClient, type CaraClient } from '../../src/client';
import { CaraError, type CaraErrorCode } from '../../src/errors';
import { redact } from '../../src/redact';
import { daysUntilExpiry, expiresSoon } from '../../src/tls';
import { toCaraError } from '../shared/input-handler';
import {
  CERTIFICATE_SOURCES,
  readSettings,
  type CaraConfigCredentials,
  type CaraConfigDefinition,
  type TlsConfigNodeLike,
  type Translate,
} from './settings';

/** What the editor puts in a password field of a deployed node whose secret was not changed. */
export const UNCHANGED_SECRET = '__PWRD__';

const CREDENTIAL_NAMES = ['certPem', 'keyPem', 'pfx', 'passphrase', 'caPem'] as const satisfies ReadonlyArray<keyof CaraConfigCredentials>;
const SETTING_NAMES = [
  'environment', 'issuer', 'tokenEndpoint', 'introspectionEndpoint', 'jwksUri', 'aimUrl', 'fhirBaseUrl', 'sandboxPort',
  'clientId', 'scope', 'certificateSource', 'certPath', 'keyPath', 'pfxPath', 'caPath', 'tlsConfig', 'timeout',
] as const satisfies ReadonlyArray<keyof CaraConfigDefinition>;

/** The body the dialog POSTs to /cara-config/:id/test. */
export interface TestConnectionRequest {
  settings: CaraConfigDefinition;
  credentials: CaraConfigCredentials;
}

export interface TestConnectionSuccess {
  ok: true;
  clientId: string;
  /** The scope the IAM granted (else the one asked for). */
  scope?: string;
  /** ISO 8601. */
  expiresAt: string;
  /** Whole seconds the token lives. */
  expiresIn: number;
  /** Only when configured (otherwise it was found through discovery). */
  tokenEndpoint?: string;
  certificate?: { subject: string; validTo: string; daysLeft: number };
  /** Things worth fixing that did not stop the test (no certificate, one expiring soon, ...). */
  warnings: string[];
}

export interface TestConnectionFailure {
  ok: false;
  code: CaraErrorCode;
  /** Why, in the library's words (what was wrong, where, what was expected); redacted. */
  message: string;
  oauthError?: string;
  statusCode?: number;
  property?: string;
  /** What readSettings noticed before the failure, e.g. that no certificate is configured. */
  warnings: string[];
}

export type TestConnectionResult = TestConnectionSuccess | TestConnectionFailure;

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** Keeps only the known, string-valued settings and credentials of a request body. */
export function parseTestRequest(body: unknown): TestConnectionRequest {
  const doc = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const pick = <K extends string>(source: unknown, names: readonly K[]): Partial<Record<K, string>> => {
    const record = (typeof source === 'object' && source !== null ? source : {}) as Record<string, unknown>;
    const picked: Partial<Record<K, string>> = {};
    for (const name of names) {
      const value = text(record[name]);
      if (value !== undefined) picked[name] = value;
    }
    return picked;
  };
  return { settings: pick(doc.settings, SETTING_NAMES), credentials: pick(doc.credentials, CREDENTIAL_NAMES) };
}

/**
 * The credentials to test with: what the dialog sent, except the `__PWRD__` placeholders of
 * unchanged secrets, which stand for the deployed node's stored values.
 */
export function mergeCredentials(sent: CaraConfigCredentials, stored: CaraConfigCredentials | undefined): CaraConfigCredentials {
  const merged: CaraConfigCredentials = {};
  for (const name of CREDENTIAL_NAMES) {
    const value = sent[name];
    merged[name] = value === UNCHANGED_SECRET ? stored?.[name] : value;
  }
  return merged;
}

function failure(err: unknown, secrets: Array<string | undefined>, warnings: string[], client?: CaraClient): TestConnectionFailure {
  const error = toCaraError(err);
  const scrubbed = redact(client ? client.redact(error.message) : error.message, secrets);
  return {
    ok: false,
    code: error.code,
    message: scrubbed,
    ...(error.oauthError ? { oauthError: error.oauthError } : {}),
    ...(error.statusCode !== undefined ? { statusCode: error.statusCode } : {}),
    ...(error.property ? { property: error.property } : {}),
    warnings: warnings.map((warning) => redact(warning, secrets)),
  };
}

export interface TestConnectionOptions {
  t: Translate;
  tlsConfigNode(id: string): TlsConfigNodeLike | null;
  now?: () => number;
}

/** Gets one token with a client built from `request`, then closes that client whatever happened. */
export async function testConnection(request: TestConnectionRequest, options: TestConnectionOptions): Promise<TestConnectionResult> {
  const { credentials } = request;
  const secrets = [credentials.passphrase, credentials.keyPem, credentials.pfx];
  const now = options.now ?? Date.now;
  let client: CaraClient | undefined;
  const warnings: string[] = [];
  try {
    const source = request.settings.certificateSource;
    if (source && !(CERTIFICATE_SOURCES as readonly string[]).includes(source)) {
      throw new CaraError('CARA_CONFIG', options.t('cara-config.errors.badCertificateSource'), { property: 'certificateSource' });
    }
    const tlsConfigNode = (id: string): TlsConfigNodeLike | null => {
      const found = options.tlsConfigNode(id);
      // The dialog may name a TLS config node that exists only in the editor so far.
      if (!found) throw new CaraError('CARA_CONFIG', options.t('cara-config.test.tlsConfigNotDeployed'), { property: 'tlsConfig' });
      return found;
    };
    const { settings, warnings: noticed } = readSettings(request.settings, credentials, { t: options.t, tlsConfigNode });
    warnings.push(...noticed);
    client = await createCaraClient(settings);
    const token = await client.tokens.renew();
    const certificate = client.certificate;
    if (certificate && expiresSoon(certificate)) {
      warnings.push(options.t('cara-config.warn.certificateExpiresSoon', {
        subject: certificate.subject,
        date: certificate.validTo.toISOString().slice(0, 10),
      }));
    }
    return {
      ok: true,
      clientId: settings.clientId,
      ...(token.scope ? { scope: token.scope } : {}),
      expiresAt: new Date(token.expiresAt).toISOString(),
      expiresIn: Math.max(0, Math.round((token.expiresAt - now()) / 1000)),
      ...(settings.tokenEndpoint ? { tokenEndpoint: settings.tokenEndpoint } : {}),
      ...(certificate
        ? { certificate: { subject: certificate.subject, validTo: certificate.validTo.toISOString(), daysLeft: daysUntilExpiry(certificate) } }
        : {}),
      warnings: warnings.map((warning) => redact(warning, secrets)),
    };
  } catch (err) {
    return failure(err, secrets, warnings, client);
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/**
 * The admin route's handler: `POST /cara-config/:id/test` with `{settings, credentials}`.
 * Placeholders of unchanged secrets fall back to the credentials stored for node `:id`.
 */
export function testConnectionHandler(RED: NodeAPI, t: Translate): (req: Request, res: Response) => void {
  return (req, res) => {
    const request = parseTestRequest(req.body);
    const id = String(req.params.id ?? '');
    // Only a deployed cara-config's own secrets stand behind its placeholders (not another node's).
    const deployed = id ? RED.nodes.getNode(id) : null;
    const stored = deployed?.type === 'cara-config' ? (RED.nodes.getCredentials(id) as CaraConfigCredentials | undefined) : undefined;
    request.credentials = mergeCredentials(request.credentials, stored);
    testConnection(request, {
      t,
      tlsConfigNode: (tlsId) => RED.nodes.getNode(tlsId) as unknown as TlsConfigNodeLike | null,
    })
      .then((result) => res.json(result))
      .catch((err: unknown) => res.status(500).json(failure(err, [], [])));
  };
}
