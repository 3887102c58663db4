/**
 * The sandbox IAM: a real oidc-provider on Keycloak's URL layout for the realm `cara`,
 * over HTTPS with mutual TLS, issuing CARA-shaped access tokens to technical users that
 * authenticate with their client certificate (no secret), as platform.md describes.
 *
 *   /realms/cara/protocol/openid-connect/token             oidc-provider (client_credentials)
 *   /realms/cara/protocol/openid-connect/token/introspect  iam-introspection.ts
 *   /realms/cara/protocol/openid-connect/certs             oidc-provider (JWKS)
 *   metadata documents                                     iam-metadata.ts
 */
import { generateKeyPair, type JsonWebKey } from 'node:crypto';
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { calculateJwkThumbprint } from 'jose';
import type Provider from 'oidc-provider';
import type { Pki } from './pki';
import { createIntrospector } from './iam-introspection';
import { METADATA_PATHS, metadataDocument, type MetadataEndpoints, type MetadataKind } from './iam-metadata';
import { createProvider, grantedScope, KEYCLOAK_PATHS } from './iam-provider';

export interface IamClientRegistration {
  /** May contain '/', e.g. 'tcu-bestclinic/scp-importer'. */
  clientId: string;
  /** CN of the client certificate that authenticates it (tls_client_auth, subject DN match). */
  certificateCommonName: string;
  /** Scopes it may get, e.g. ['ns:cara:scp.Contributor','ns:cara:authx.Reader']. */
  scopes: string[];
  /** Become the cara:accountUrn, cara:orgIdUrn, cara:eidUrn claims. */
  accountUrn?: string;
  orgIdUrn?: string;
  eidUrn?: string;
}

export interface IamOptions {
  pki: Pki;
  clients: IamClientRegistration[];
  /** Default 0 = random; a test restarts the IAM on the same port to simulate down/up. */
  port?: number;
  /** Default '127.0.0.1'; the public origin is https://localhost:<port>. */
  host?: string;
  /** Default 300. */
  accessTokenTtlSeconds?: number;
  /** Which metadata documents are served (all true by default). */
  discovery?: { rfc8414?: boolean; realm?: boolean; openid?: boolean };
  /**
   * When true, the metadata's plain token/introspection endpoints point at paths that
   * answer 404, and `mtls_endpoint_aliases` point at the working ones.
   */
  mtlsEndpointAliases?: boolean;
  /** When set, the metadata documents claim this issuer (to test that clients reject a mismatch). */
  advertisedIssuer?: string;
}

export interface RunningIam {
  port: number;
  /** https://localhost:<port> */
  origin: string;
  /** origin + '/realms/cara' */
  issuer: string;
  /** issuer + '/protocol/openid-connect/token' */
  tokenEndpoint: string;
  /** issuer + '/protocol/openid-connect/token/introspect' */
  introspectionEndpoint: string;
  /** issuer + '/protocol/openid-connect/certs' */
  jwksUri: string;
  /** Token-endpoint POSTs received (any outcome, decoy endpoint included). */
  readonly tokenRequestCount: number;
  resetCounters(): void;
  /** The public signing keys (for the FHIR vault to verify tokens in-process). */
  publicJwks(): { keys: object[] };
  /** Closes the server and all its connections. */
  stop(): Promise<void>;
}

/** Where the plain (non-mTLS) endpoints point in `mtlsEndpointAliases` mode: nothing answers there. */
const DECOY_PATHS = {
  token: '/protocol/openid-connect/no-mtls/token',
  introspection: '/protocol/openid-connect/no-mtls/token/introspect',
} as const;

const MAX_FORM_BYTES = 64 * 1024;

/**
 * One signing key per PKI, so that an IAM restarted with the same PKI (a "down/up" test)
 * still validates the tokens it issued before, like a real Keycloak.
 */
const signingKeys = new WeakMap<Pki, Promise<JsonWebKey>>();

async function newSigningJwk(): Promise<JsonWebKey> {
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e });
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

function signingJwkFor(pki: Pki): Promise<JsonWebKey> {
  let key = signingKeys.get(pki);
  if (!key) {
    key = newSigningJwk();
    signingKeys.set(pki, key);
  }
  return key;
}

function publicPart(jwk: JsonWebKey): JsonWebKey {
  const { kty, n, e, kid, alg, use } = jwk;
  return { kty, n, e, kid, alg, use };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Keycloak's JSON extras on a successful token response. */
function decorateTokenResponses(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method === 'POST' && ctx.path === KEYCLOAK_PATHS.token && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, refresh_expires_in: 0, 'not-before-policy': 0 };
    }
  });
}

export async function startIam(options: IamOptions): Promise<RunningIam> {
  const { pki } = options;
  const host = options.host ?? '127.0.0.1';
  const discovery = { rfc8414: true, realm: true, openid: true, ...options.discovery };
  const clients = new Map(options.clients.map((c) => [c.clientId, c]));
  const signingJwk = await signingJwkFor(pki);
  const publicJwks = { keys: [publicPart(signingJwk)] };

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => sendJson(res, 503, { error: 'starting' });
  const server = https.createServer(
    {
      key: pki.server.keyPem,
      cert: pki.server.certPem,
      ca: [pki.ca.certPem],
      minVersion: 'TLSv1.2',
      requestCert: true,
      // The handshake must succeed without (or with a foreign) client certificate so that the
      // OAuth layer can answer 401 invalid_client itself, as Keycloak does. Node still verifies
      // the chain against `ca`: iam-client-cert.ts reads `socket.authorized` before trusting it.
      rejectUnauthorized: false,
    },
    (req, res) => handler(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const origin = `https://localhost:${port}`;
  const issuer = `${origin}${KEYCLOAK_PATHS.realmPrefix}`;
  const tokenEndpoint = `${issuer}${KEYCLOAK_PATHS.token}`;
  const introspectionEndpoint = `${issuer}${KEYCLOAK_PATHS.introspection}`;
  const jwksUri = `${issuer}${KEYCLOAK_PATHS.jwks}`;

  const provider = createProvider({
    issuer,
    clients: options.clients,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 300,
    signingJwk,
  });
  decorateTokenResponses(provider);
  const providerCallback = provider.callback();
  const introspect = createIntrospector({ issuer, clients, publicJwks });

  const endpoints: MetadataEndpoints = {
    issuer: options.advertisedIssuer ?? issuer,
    tokenEndpoint,
    introspectionEndpoint,
    jwksUri,
    scopes: grantedScope(options.clients.flatMap((c) => c.scopes)).split(' '),
    ...(options.mtlsEndpointAliases
      ? {
          tokenEndpoint: `${issuer}${DECOY_PATHS.token}`,
          introspectionEndpoint: `${issuer}${DECOY_PATHS.introspection}`,
          mtlsAliases: { tokenEndpoint, introspectionEndpoint },
        }
      : {}),
  };
  const metadataByPath = new Map<string, MetadataKind>(
    (Object.keys(METADATA_PATHS) as MetadataKind[]).map((kind) => [METADATA_PATHS[kind], kind]),
  );

  const realmPath = (path: string) => `${KEYCLOAK_PATHS.realmPrefix}${path}`;
  let tokenRequestCount = 0;

  handler = (req, res) => {
    const path = new URL(req.url ?? '/', origin).pathname;
    const method = req.method ?? 'GET';

    if (method === 'POST' && (path === realmPath(KEYCLOAK_PATHS.token) || path === realmPath(DECOY_PATHS.token))) {
      tokenRequestCount++;
    }

    const metadataKind = metadataByPath.get(path);
    if (metadataKind) {
      if (method !== 'GET' || !discovery[metadataKind]) return sendJson(res, 404, { error: 'not_found' });
      return sendJson(res, 200, metadataDocument(metadataKind, endpoints));
    }
    if (path === realmPath(DECOY_PATHS.token) || path === realmPath(DECOY_PATHS.introspection)) {
      return sendJson(res, 404, { error: 'not_found', error_description: 'this endpoint requires the mTLS alias' });
    }
    if (path === realmPath(KEYCLOAK_PATHS.introspection)) {
      if (method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST' });
      void readForm(req)
        .then(async (form) => {
          if (!form) return sendJson(res, 413, { error: 'invalid_request', error_description: 'request too large' });
          const answer = await introspect(req.socket, form);
          sendJson(res, answer.status, answer.body);
        })
        .catch(() => sendJson(res, 500, { error: 'server_error' }));
      return;
    }
    if (path.startsWith(`${KEYCLOAK_PATHS.realmPrefix}/`)) {
      // oidc-provider derives its mount path from originalUrl minus url
      const original = req.url ?? '/';
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = original;
      req.url = original.slice(KEYCLOAK_PATHS.realmPrefix.length);
      return providerCallback(req, res);
    }
    return sendJson(res, 404, { error: 'not_found' });
  };

  return {
    port,
    origin,
    issuer,
    tokenEndpoint,
    introspectionEndpoint,
    jwksUri,
    get tokenRequestCount() {
      return tokenRequestCount;
    },
    resetCounters() {
      tokenRequestCount = 0;
    },
    publicJwks: () => ({ keys: publicJwks.keys.map((k) => ({ ...k })) }),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => {
          // a second stop() finds the server already closed: nothing left to do
          if (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING') reject(err);
          else resolve();
        });
        server.closeAllConnections();
      }),
  };
}
