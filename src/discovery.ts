/**
 * ITI-103 (RFC 8414): issuer -> token, introspection and JWKS endpoints.
 *
 * Locations are tried in order: the RFC 8414 form (well-known segment inserted before the
 * issuer's path), Keycloak's realm form (appended to the issuer), OpenID discovery. A document
 * whose `issuer` differs from the one asked for is an error (RFC 8414 §3.3), never a fallback:
 * tokens from such a server would not verify anyway. When no document exists at all, Keycloak's
 * default paths under the issuer are used. RFC 8705 `mtls_endpoint_aliases` win: we always
 * authenticate with a client certificate. Endpoints set explicitly win over everything.
 */
import type { Dispatcher } from 'undici';
import { CaraError } from './errors';
import { describeUrl, parseJsonBody, sendHttp } from './http';

export type EndpointSource = 'configured' | 'rfc8414' | 'realm' | 'openid' | 'keycloak-defaults';

export interface Endpoints {
  /** The issuer tokens must carry (`iss`), when known. */
  issuer?: string;
  tokenEndpoint: string;
  introspectionEndpoint?: string;
  jwksUri?: string;
  /** Where the endpoints came from (for diagnostics). */
  source: EndpointSource;
}

export interface DiscoveryOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  issuer?: string;
  tokenEndpoint?: string;
  introspectionEndpoint?: string;
  jwksUri?: string;
}

export interface DiscoveryLocation {
  source: Exclude<EndpointSource, 'configured' | 'keycloak-defaults'>;
  url: URL;
}

const KEYCLOAK_TOKEN_PATH = '/protocol/openid-connect/token';

/** The metadata locations for an issuer, in the order they are tried (duplicates removed). */
export function discoveryLocations(issuer: string): DiscoveryLocation[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  const candidates: DiscoveryLocation[] = [
    { source: 'rfc8414', url: new URL(`/.well-known/oauth-authorization-server${path}`, url.origin) },
    { source: 'realm', url: new URL(`${url.origin}${path}/.well-known/oauth-authorization-server`) },
    { source: 'openid', url: new URL(`${url.origin}${path}/.well-known/openid-configuration`) },
  ];
  return candidates.filter((c, i) => candidates.findIndex((o) => o.url.href === c.url.href) === i);
}

/** Keycloak's default endpoint paths under an issuer (`https://<iam>/realms/<realm>`). */
export function keycloakDefaults(issuer: string): Omit<Endpoints, 'source'> {
  const base = issuer.replace(/\/+$/, '');
  return {
    issuer: base,
    tokenEndpoint: `${base}${KEYCLOAK_TOKEN_PATH}`,
    introspectionEndpoint: `${base}${KEYCLOAK_TOKEN_PATH}/introspect`,
    jwksUri: `${base}/protocol/openid-connect/certs`,
  };
}

/** Issuer implied by a Keycloak token endpoint, so that a token-endpoint-only setup can still verify. */
export function issuerFromKeycloakTokenEndpoint(tokenEndpoint: string): string | undefined {
  return tokenEndpoint.endsWith(KEYCLOAK_TOKEN_PATH) ? tokenEndpoint.slice(0, -KEYCLOAK_TOKEN_PATH.length) : undefined;
}

/** Issuers compare as strings (RFC 8414 §3.3); only a trailing slash is forgiven. */
function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

function optionalHttpsUrl(doc: Record<string, unknown>, name: string, where: string): string | undefined {
  const value = doc[name];
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:') {
    throw new CaraError('CARA_DISCOVERY', `${where}: "${name}" is not an https URL; expected https endpoints from the authorization server`);
  }
  return url.href;
}

type FetchOutcome = { kind: 'document'; endpoints: Endpoints } | { kind: 'absent' } | { kind: 'unreachable'; error: CaraError };

export class Discovery {
  private cached?: Endpoints;
  private inFlight?: Promise<Endpoints>;

  constructor(private readonly options: DiscoveryOptions) {}

  /** True when an issuer is set and some endpoint is not configured: the metadata must be fetched. */
  get needsDiscovery(): boolean {
    const o = this.options;
    return !!o.issuer && !(o.tokenEndpoint && o.introspectionEndpoint && o.jwksUri);
  }

  /** The token endpoint, without discovery when it is configured. */
  async tokenEndpoint(): Promise<string> {
    return this.options.tokenEndpoint ?? (await this.endpoints()).tokenEndpoint;
  }

  /** All endpoints; discovered once, single flight, retried on the next call after a failure. */
  endpoints(): Promise<Endpoints> {
    if (this.cached) return Promise.resolve(this.cached);
    if (!this.needsDiscovery) {
      try {
        return Promise.resolve(this.withoutDiscovery());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    this.inFlight ??= this.discover().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private withoutDiscovery(): Endpoints {
    const o = this.options;
    if (!o.tokenEndpoint) {
      throw new CaraError('CARA_CONFIG', 'neither an issuer nor a token endpoint is configured; expected the IAM issuer URL', { property: 'issuer' });
    }
    const issuer = o.issuer ?? issuerFromKeycloakTokenEndpoint(o.tokenEndpoint);
    const defaults = issuer ? keycloakDefaults(issuer) : undefined;
    this.cached = {
      issuer,
      tokenEndpoint: o.tokenEndpoint,
      introspectionEndpoint: o.introspectionEndpoint ?? defaults?.introspectionEndpoint,
      jwksUri: o.jwksUri ?? defaults?.jwksUri,
      source: 'configured',
    };
    return this.cached;
  }

  private async discover(): Promise<Endpoints> {
    const issuer = this.options.issuer as string;
    let unreachable: CaraError | undefined;
    for (const location of discoveryLocations(issuer)) {
      const outcome = await this.fetchDocument(location, issuer);
      if (outcome.kind === 'document') {
        this.cached = this.applyConfigured(outcome.endpoints);
        return this.cached;
      }
      if (outcome.kind === 'unreachable') {
        // Every location is on the same host: when one cannot be reached, neither can the others.
        unreachable = outcome.error;
        break;
      }
    }
    const fallback = this.applyConfigured({ ...keycloakDefaults(issuer), source: 'keycloak-defaults' });
    // A fallback caused by an outage is not remembered: the next call looks for metadata again.
    if (!unreachable) this.cached = fallback;
    return fallback;
  }

  private applyConfigured(found: Endpoints): Endpoints {
    const o = this.options;
    return {
      ...found,
      tokenEndpoint: o.tokenEndpoint ?? found.tokenEndpoint,
      introspectionEndpoint: o.introspectionEndpoint ?? found.introspectionEndpoint,
      jwksUri: o.jwksUri ?? found.jwksUri,
    };
  }

  private async fetchDocument(location: DiscoveryLocation, issuer: string): Promise<FetchOutcome> {
    const where = `authorization server metadata at ${describeUrl(location.url)}`;
    let res;
    try {
      res = await sendHttp(this.options.dispatcher, {
        method: 'GET',
        url: location.url,
        headers: { accept: 'application/json' },
        timeoutMs: this.options.timeoutMs,
      });
    } catch (err) {
      // Outage or TLS refusal: the token request that follows fails the same way and reports it.
      return { kind: 'unreachable', error: err as CaraError };
    }
    if (res.statusCode !== 200) return { kind: 'absent' };
    let doc: unknown;
    try {
      doc = parseJsonBody(res, where);
    } catch {
      return { kind: 'absent' };
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { kind: 'absent' };
    const metadata = doc as Record<string, unknown>;
    if (typeof metadata.issuer !== 'string' || !sameIssuer(metadata.issuer, issuer)) {
      throw new CaraError(
        'CARA_DISCOVERY',
        `${where} names the issuer "${String(metadata.issuer)}", expected "${issuer}"; ` +
          'check the configured issuer (Keycloak derives it from its front-end host name)',
        { statusCode: res.statusCode },
      );
    }
    const aliasesValue = metadata.mtls_endpoint_aliases;
    const aliases = typeof aliasesValue === 'object' && aliasesValue !== null ? (aliasesValue as Record<string, unknown>) : {};
    const pick = (name: string): string | undefined =>
      optionalHttpsUrl(aliases, name, `${where} (mtls_endpoint_aliases)`) ?? optionalHttpsUrl(metadata, name, where);
    const tokenEndpoint = pick('token_endpoint');
    if (!tokenEndpoint && !this.options.tokenEndpoint) {
      throw new CaraError('CARA_DISCOVERY', `${where} has no token_endpoint; expected one, or configure the token endpoint`);
    }
    return {
      kind: 'document',
      endpoints: {
        issuer: metadata.issuer,
        tokenEndpoint: tokenEndpoint ?? (this.options.tokenEndpoint as string),
        introspectionEndpoint: pick('introspection_endpoint'),
        jwksUri: pick('jwks_uri'),
        source: location.source,
      },
    };
  }
}
