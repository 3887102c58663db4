/**
 * CaraClient: everything one cara-config needs, composed once at deploy and shared by every
 * node that uses that config: one mTLS Agent (a pool per origin), one token manager, the
 * AIM and FHIR clients.
 *
 * CONTRACT FILE: the CaraClient interface below is what node adapters code against.
 * createCaraClient checks the settings and the certificate at deploy (CARA_CONFIG /
 * CARA_CERTIFICATE), then discovers the IAM's endpoints lazily, on first need.
 */
import { AimClient } from './aim';
import { AuthorizedHttp } from './authorized';
import { Discovery } from './discovery';
import { CaraError } from './errors';
import { FhirClient } from './fhir/client';
import { parseServiceUrl } from './fhir/urls';
import { introspectToken, type IntrospectionResult } from './introspect';
import { redact as redactSecrets } from './redact';
import { createAgent, loadClientTls, type CertificateInfo, type TlsSettings } from './tls';
import { TokenManager } from './token';
import { TokenVerifier, type VerifiedToken } from './verify';

export interface CaraClientSettings {
  /** Client id registered with CARA (may contain '/'). */
  clientId: string;
  /** Space-separated scopes; empty or undefined = send no scope parameter. */
  scope?: string;
  /** IAM issuer (`https://<iam>/realms/cara`) used for ITI-103 discovery. */
  issuer?: string;
  /** Explicit endpoints win over discovery. */
  tokenEndpoint?: string;
  introspectionEndpoint?: string;
  jwksUri?: string;
  /** AIM origin, e.g. https://ws-authx-mtls-val.cara.ch */
  aimUrl?: string;
  /** FHIR base, e.g. https://ws-fhir-mtls-val.cara.ch/fhir */
  fhirBaseUrl?: string;
  tls: TlsSettings;
  /** Timeout of every request, ms. */
  timeoutMs: number;
}

export interface CaraClient {
  readonly settings: Readonly<CaraClientSettings>;
  readonly certificate?: CertificateInfo;
  readonly tokens: TokenManager;
  readonly aim: AimClient;
  readonly fhir: FhirClient;
  /** ITI-102: introspects `token`, or the current token when omitted. */
  introspect(token?: string): Promise<IntrospectionResult>;
  /** Verifies `token` (or the current one) locally against the JWKS. */
  verify(token?: string): Promise<VerifiedToken>;
  /** Scrubs the current token, passphrase and any secret-shaped text. */
  redact(text: string): string;
  /** Stops timers and closes every pooled connection. */
  close(): Promise<void>;
}

export type CaraEnvironment = 'validation' | 'integration' | 'production' | 'sandbox' | 'custom';

export interface EnvironmentUrls {
  issuer: string;
  aimUrl: string;
  fhirBaseUrl: string;
}

/** The platform's published URLs (platform.md). The sandbox preset is resolved from its port by the config node. */
export const ENVIRONMENTS: Record<Exclude<CaraEnvironment, 'custom' | 'sandbox'>, EnvironmentUrls> = {
  validation: {
    issuer: 'https://iam-val.cara.ch/realms/cara',
    aimUrl: 'https://ws-authx-mtls-val.cara.ch',
    fhirBaseUrl: 'https://ws-fhir-mtls-val.cara.ch/fhir',
  },
  integration: {
    issuer: 'https://iam-int.cara.ch/realms/cara',
    aimUrl: 'https://ws-authx-mtls-int.cara.ch',
    fhirBaseUrl: 'https://ws-fhir-mtls-int.cara.ch/fhir',
  },
  production: {
    issuer: 'https://iam.cara.ch/realms/cara',
    aimUrl: 'https://ws-authx-mtls.cara.ch',
    fhirBaseUrl: 'https://ws-fhir-mtls.cara.ch/fhir',
  },
};

const URL_SETTINGS = ['issuer', 'tokenEndpoint', 'introspectionEndpoint', 'jwksUri', 'aimUrl', 'fhirBaseUrl'] as const;
const URL_EXAMPLES: Record<(typeof URL_SETTINGS)[number], string> = {
  issuer: ENVIRONMENTS.validation.issuer,
  tokenEndpoint: `${ENVIRONMENTS.validation.issuer}/protocol/openid-connect/token`,
  introspectionEndpoint: `${ENVIRONMENTS.validation.issuer}/protocol/openid-connect/token/introspect`,
  jwksUri: `${ENVIRONMENTS.validation.issuer}/protocol/openid-connect/certs`,
  aimUrl: ENVIRONMENTS.validation.aimUrl,
  fhirBaseUrl: ENVIRONMENTS.validation.fhirBaseUrl,
};
/** RFC 6749 §3.3: scope tokens are printable ASCII without space, '"' or '\'. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/;
/** Time allowed for a redeploy to let pending requests finish before connections are cut. */
const CLOSE_GRACE_MS = 2_000;

function configError(property: string, problem: string, expected: string): CaraError {
  return new CaraError('CARA_CONFIG', `${property} ${problem}; expected ${expected}`, { property });
}

/** Checks every setting before anything is built; errors name the setting. */
export function validateSettings(settings: CaraClientSettings): CaraClientSettings {
  if (typeof settings.clientId !== 'string' || settings.clientId.trim() === '') {
    throw configError('clientId', 'is empty', 'the client id CARA registered for this system');
  }
  const scope = settings.scope?.trim().replace(/\s+/g, ' ');
  if (scope && !SCOPE.test(scope)) {
    throw configError('scope', `"${scope}" is not a list of scopes`, 'space-separated scopes such as ns:cara:scp.Contributor');
  }
  for (const name of URL_SETTINGS) {
    const value = settings[name];
    if (value !== undefined && value !== '') parseServiceUrl(name, value, URL_EXAMPLES[name]);
  }
  if (!settings.issuer && !settings.tokenEndpoint) {
    throw configError('issuer', 'is not set (nor a token endpoint)', 'the IAM issuer, e.g. https://iam-val.cara.ch/realms/cara');
  }
  if (!Number.isFinite(settings.timeoutMs) || settings.timeoutMs <= 0) {
    throw configError('timeoutMs', `is ${String(settings.timeoutMs)}`, 'a positive number of milliseconds');
  }
  const blankToUndefined = (v: string | undefined): string | undefined => (v ? v : undefined);
  return {
    ...settings,
    clientId: settings.clientId.trim(),
    scope: scope || undefined,
    issuer: blankToUndefined(settings.issuer?.replace(/\/+$/, '')),
    tokenEndpoint: blankToUndefined(settings.tokenEndpoint),
    introspectionEndpoint: blankToUndefined(settings.introspectionEndpoint),
    jwksUri: blankToUndefined(settings.jwksUri),
    aimUrl: blankToUndefined(settings.aimUrl),
    fhirBaseUrl: blankToUndefined(settings.fhirBaseUrl),
  };
}

function notConfigured(property: 'aimUrl' | 'fhirBaseUrl'): never {
  const what = property === 'aimUrl' ? 'the AIM URL' : 'the FHIR base URL';
  throw configError(property, 'is not set', `${what} of the CARA environment (choose an environment or set it)`);
}

export async function createCaraClient(input: CaraClientSettings): Promise<CaraClient> {
  const settings = Object.freeze(validateSettings(input));
  const tls = await loadClientTls(settings.tls);
  const agent = createAgent(tls, { connectTimeoutMs: settings.timeoutMs });
  const discovery = new Discovery({
    dispatcher: agent,
    timeoutMs: settings.timeoutMs,
    issuer: settings.issuer,
    tokenEndpoint: settings.tokenEndpoint,
    introspectionEndpoint: settings.introspectionEndpoint,
    jwksUri: settings.jwksUri,
  });
  const tokens = new TokenManager({
    dispatcher: agent,
    clientId: settings.clientId,
    scope: settings.scope,
    tokenEndpoint: () => discovery.tokenEndpoint(),
    timeoutMs: settings.timeoutMs,
    secrets: tls.secrets,
  });
  const redact = (text: string): string => redactSecrets(text, [...tokens.knownValues, ...tls.secrets]);
  // Aborted by close(): retry waits end at once and no new attempt starts (CARA_CLOSED).
  const lifetime = new AbortController();
  const verifier = new TokenVerifier({ dispatcher: agent, timeoutMs: settings.timeoutMs, endpoints: () => discovery.endpoints() });
  const http = new AuthorizedHttp({
    dispatcher: agent,
    tokens,
    // The bearer token goes to AIM and the vault only, never to any other origin.
    allowedOrigins: [settings.aimUrl, settings.fhirBaseUrl].filter((u): u is string => !!u).map((u) => new URL(u).origin),
    timeoutMs: settings.timeoutMs,
    redact,
    signal: lifetime.signal,
  });
  const aim = settings.aimUrl ? new AimClient({ http, aimUrl: settings.aimUrl, redact }) : undefined;
  const fhir = settings.fhirBaseUrl ? new FhirClient({ http, baseUrl: settings.fhirBaseUrl }) : undefined;
  let closed = false;

  const tokenValue = async (token: string | undefined): Promise<string> => {
    if (token !== undefined) {
      if (token.trim() === '') throw new CaraError('CARA_INPUT', 'the token to check is empty; expected an access token', { property: 'token' });
      return token.trim();
    }
    return (await tokens.get()).value;
  };

  return {
    settings,
    certificate: tls.certificate,
    tokens,
    get aim(): AimClient {
      return aim ?? notConfigured('aimUrl');
    },
    get fhir(): FhirClient {
      return fhir ?? notConfigured('fhirBaseUrl');
    },
    async introspect(token?: string): Promise<IntrospectionResult> {
      const value = await tokenValue(token);
      const { introspectionEndpoint } = await discovery.endpoints();
      if (!introspectionEndpoint) {
        throw configError('introspectionEndpoint', 'is unknown (not configured, not discovered)', 'the IAM issuer or an introspection endpoint');
      }
      return introspectToken({ dispatcher: agent, endpoint: introspectionEndpoint, clientId: settings.clientId, token: value, timeoutMs: settings.timeoutMs, secrets: tls.secrets });
    },
    async verify(token?: string): Promise<VerifiedToken> {
      return verifier.verify(await tokenValue(token));
    },
    redact,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      lifetime.abort();
      tokens.close();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), CLOSE_GRACE_MS);
      });
      const outcome = await Promise.race([agent.close().then(() => 'closed' as const), grace]);
      clearTimeout(timer);
      if (outcome === 'timeout') await agent.destroy();
    },
  };
}
