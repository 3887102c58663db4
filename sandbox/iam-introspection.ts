/**
 * ITI-102 / RFC 7662 token introspection at Keycloak's path. oidc-provider refuses to
 * introspect JWT access tokens; Keycloak does, so the sandbox answers it here, verifying
 * the token with the IAM's own keys.
 */
import type { Socket } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { IamClientRegistration } from './iam';
import { peerAuthenticatesAs } from './iam-client-cert';

export interface IntrospectionAnswer {
  status: number;
  body: Record<string, unknown>;
}

export interface IntrospectionSettings {
  issuer: string;
  clients: Map<string, IamClientRegistration>;
  publicJwks: JSONWebKeySet;
}

export function createIntrospector(settings: IntrospectionSettings) {
  const keys = createLocalJWKSet(settings.publicJwks);

  return async function introspect(socket: Socket, form: URLSearchParams): Promise<IntrospectionAnswer> {
    const clientId = form.get('client_id');
    const registration = clientId ? settings.clients.get(clientId) : undefined;
    if (!registration || !peerAuthenticatesAs(socket, registration.certificateCommonName)) {
      return {
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed (certificate and client_id)' },
      };
    }
    const token = form.get('token');
    if (!token) {
      return { status: 400, body: { error: 'invalid_request', error_description: 'missing required parameter token' } };
    }
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: settings.issuer, algorithms: ['RS256'] });
      return {
        status: 200,
        body: {
          ...payload,
          active: true,
          client_id: payload.client_id ?? payload.azp,
          token_type: 'Bearer',
        },
      };
    } catch {
      // expired, foreign signature, malformed: RFC 7662 says nothing more than inactive
      return { status: 200, body: { active: false } };
    }
  };
}
