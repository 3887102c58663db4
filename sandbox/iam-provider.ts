/**
 * The oidc-provider instance behind the sandbox IAM: client_credentials with
 * tls_client_auth, RS256 JWT access tokens shaped like Keycloak's for CARA.
 * Keycloak's URL layout (`/realms/cara/protocol/openid-connect/...`) comes from `routes`
 * plus the `/realms/cara` prefix that iam.ts strips in front of `provider.callback()`.
 */
import { randomBytes, type JsonWebKey } from 'node:crypto';
import Provider, { errors, type AccessTokenModel, type KoaContextWithOIDC, type StructuredJwt } from 'oidc-provider';
import type { IamClientRegistration } from './iam';
import { memoryAdapterFactory } from './iam-memory-adapter';
import { commonNameOf, peerCertificate, peerCertificateAuthorized, peerCommonNameMatches, subjectDnFor } from './iam-client-cert';

/** Keycloak's default client scope on CARA, always granted and listed first. */
export const PLATFORM_SCOPE = 'cara-platform';
/** Resource indicator every token is issued for (oidc-provider issues JWTs only for a resource). */
export const DEFAULT_RESOURCE = 'urn:cara:platform';
/** `aud` of the access tokens: oidc-provider insists on one, Keycloak's CARA tokens carry none. */
export const ACCESS_TOKEN_AUDIENCE = 'cara-platform';

export const KEYCLOAK_PATHS = {
  realmPrefix: '/realms/cara',
  token: '/protocol/openid-connect/token',
  introspection: '/protocol/openid-connect/token/introspect',
  jwks: '/protocol/openid-connect/certs',
} as const;

export interface ProviderSettings {
  issuer: string;
  clients: IamClientRegistration[];
  accessTokenTtlSeconds: number;
  /** Private RS256 signing key (JWK with kid, alg, use). */
  signingJwk: JsonWebKey;
}

/** Granted scopes in Keycloak's order: the platform scope, then the others sorted. */
export function grantedScope(scopes: Iterable<string>): string {
  const others = [...new Set(scopes)].filter((s) => s && s !== PLATFORM_SCOPE).sort();
  return [PLATFORM_SCOPE, ...others].join(' ');
}

function registrationOf(clients: Map<string, IamClientRegistration>, clientId: string): IamClientRegistration {
  const registration = clients.get(clientId);
  // oidc-provider only calls the hooks for clients it found, i.e. registered ones
  if (!registration) throw new Error(`sandbox IAM: no registration for client ${clientId}`);
  return registration;
}

/** The CARA claims of a client's tokens (Keycloak protocol mappers on CARA). */
export function caraClaims(registration: IamClientRegistration): Record<string, unknown> {
  return {
    typ: 'Bearer',
    azp: registration.clientId,
    'cara:roles': ['TECHNICAL_USER'],
    ...(registration.accountUrn ? { 'cara:accountUrn': registration.accountUrn } : {}),
    ...(registration.orgIdUrn ? { 'cara:orgIdUrn': registration.orgIdUrn } : {}),
    ...(registration.eidUrn ? { 'cara:eidUrn': registration.eidUrn } : {}),
  };
}

export function createProvider(settings: ProviderSettings): Provider {
  const clients = new Map(settings.clients.map((c) => [c.clientId, c]));
  const allScopes = new Set([PLATFORM_SCOPE, ...settings.clients.flatMap((c) => c.scopes)]);

  const certificateAuthorized = (ctx: KoaContextWithOIDC): boolean => peerCertificateAuthorized(ctx.socket);
  const certificateSubjectMatches = (ctx: KoaContextWithOIDC, property: string, expected: string): boolean => {
    const expectedCn = commonNameOf(expected);
    return property === 'tls_client_auth_subject_dn' && expectedCn !== undefined && peerCommonNameMatches(ctx.socket, expectedCn);
  };

  /** Keycloak answers a scope the client may not have with invalid_scope, not by dropping it. */
  const getResourceServerInfo = (ctx: KoaContextWithOIDC, _resource: string, client: { clientId: string }) => {
    const registration = registrationOf(clients, client.clientId);
    const allowed = new Set([PLATFORM_SCOPE, ...registration.scopes]);
    const requested = String(ctx.oidc?.params?.scope ?? '').split(' ').filter(Boolean);
    const refused = requested.find((scope) => !allowed.has(scope));
    if (refused !== undefined) throw new errors.InvalidScope('requested scope is not allowed', refused);
    return {
      scope: [...allowed].join(' '),
      audience: ACCESS_TOKEN_AUDIENCE,
      accessTokenTTL: settings.accessTokenTtlSeconds,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
  };

  const extraTokenClaims = (_ctx: KoaContextWithOIDC, token: AccessTokenModel) =>
    caraClaims(registrationOf(clients, token.clientId));

  /** No scope asked: Keycloak grants the client's default scopes (here: all it registered). */
  const shapeLikeKeycloak = (_ctx: KoaContextWithOIDC, token: AccessTokenModel, jwt: StructuredJwt) => {
    const registration = registrationOf(clients, token.clientId);
    const asked = (token.scope ?? '').split(' ').filter(Boolean);
    token.scope = grantedScope(asked.length ? asked : registration.scopes);
    jwt.payload.scope = token.scope;
    jwt.header = { ...jwt.header, typ: 'JWT' };
  };

  return new Provider(settings.issuer, {
    clients: settings.clients.map((c) => ({
      client_id: c.clientId,
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: subjectDnFor(c.certificateCommonName),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: grantedScope(c.scopes),
    })),
    clientAuthMethods: ['tls_client_auth'],
    scopes: [...allScopes],
    jwks: { keys: [settings.signingJwk] },
    adapter: memoryAdapterFactory(),
    ttl: { ClientCredentials: settings.accessTokenTtlSeconds },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    routes: {
      token: KEYCLOAK_PATHS.token,
      jwks: KEYCLOAK_PATHS.jwks,
      authorization: '/protocol/openid-connect/auth',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
    },
    features: {
      devInteractions: { enabled: false },
      // Keycloak introspects JWTs, oidc-provider refuses to: iam-introspection.ts answers instead.
      introspection: { enabled: false },
      revocation: { enabled: false },
      clientCredentials: { enabled: true },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        certificateBoundAccessTokens: false,
        getCertificate: (ctx: KoaContextWithOIDC) => peerCertificate(ctx.socket),
        certificateAuthorized,
        certificateSubjectMatches,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => DEFAULT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo,
      },
    },
    extraTokenClaims,
    formats: { customizers: { jwt: shapeLikeKeycloak } },
  });
}
