/**
 * Authorization server metadata of the sandbox IAM (RFC 8414 / OpenID Discovery, IHE
 * ITI-103), served at the three places Keycloak and RFC 8414 define for the realm.
 */

export interface MetadataEndpoints {
  /** The issuer the documents claim (normally the real one; a test may make it lie). */
  issuer: string;
  tokenEndpoint: string;
  introspectionEndpoint: string;
  jwksUri: string;
  scopes: string[];
  /** RFC 8705 aliases: the endpoints an mTLS client must use instead of the plain ones. */
  mtlsAliases?: { tokenEndpoint: string; introspectionEndpoint: string };
}

export type MetadataKind = 'rfc8414' | 'realm' | 'openid';

/** Path of each document, for the realm `cara`. */
export const METADATA_PATHS: Record<MetadataKind, string> = {
  rfc8414: '/.well-known/oauth-authorization-server/realms/cara',
  realm: '/realms/cara/.well-known/oauth-authorization-server',
  openid: '/realms/cara/.well-known/openid-configuration',
};

export function metadataDocument(kind: MetadataKind, endpoints: MetadataEndpoints): Record<string, unknown> {
  const document: Record<string, unknown> = {
    issuer: endpoints.issuer,
    token_endpoint: endpoints.tokenEndpoint,
    introspection_endpoint: endpoints.introspectionEndpoint,
    jwks_uri: endpoints.jwksUri,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    scopes_supported: endpoints.scopes,
    token_endpoint_auth_methods_supported: ['tls_client_auth'],
    introspection_endpoint_auth_methods_supported: ['tls_client_auth'],
    tls_client_certificate_bound_access_tokens: false,
  };
  if (kind === 'openid') {
    document.subject_types_supported = ['public'];
    document.id_token_signing_alg_values_supported = ['RS256'];
  }
  if (endpoints.mtlsAliases) {
    document.mtls_endpoint_aliases = {
      token_endpoint: endpoints.mtlsAliases.tokenEndpoint,
      introspection_endpoint: endpoints.mtlsAliases.introspectionEndpoint,
    };
  }
  return document;
}
