/**
 * The few parts of oidc-provider 9 (which ships no type declarations) that the sandbox
 * IAM uses. Deliberately narrow: anything not listed here is not used.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { Socket } from 'node:net';

  export interface OidcClientRef {
    clientId: string;
    scope?: string;
  }

  export interface KoaContextWithOIDC {
    method: string;
    path: string;
    status: number;
    body: unknown;
    socket: Socket;
    oidc?: {
      params?: { scope?: string } & Record<string, unknown>;
      client?: OidcClientRef;
    };
  }

  /** The client_credentials token model instance handed to the hooks. */
  export interface AccessTokenModel {
    clientId: string;
    client?: OidcClientRef;
    scope?: string;
  }

  export interface StructuredJwt {
    header?: Record<string, unknown>;
    payload: Record<string, unknown>;
  }

  export type KoaMiddleware = (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>;

  /** Passed as is to oidc-provider; see its documentation for the keys. */
  export type Configuration = Record<string, unknown>;

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: KoaMiddleware): void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export class OIDCProviderError extends Error {
    error: string;
    error_description?: string;
    status: number;
  }

  export const errors: {
    InvalidScope: new (description: string, scope?: string) => OIDCProviderError;
    InvalidClientAuth: new (description: string) => OIDCProviderError;
  };
}
