/**
 * The HTTPS plumbing AIM and the FHIR Vault share: a server that requires a client
 * certificate signed by the sandbox CA (mTLS), request recording, body reading and
 * bearer-token verification against the sandbox IAM's public keys.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { Pki } from './pki';

/** The part of the sandbox IAM the resource servers need to verify tokens. */
export interface TokenIssuer {
  issuer: string;
  publicJwks(): { keys: object[] };
}

export interface RecordedRequest {
  method: string;
  /** Path including the query string, as received. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RunningHttpsServer {
  server: Server;
  port: number;
  /** `https://localhost:<port>` (the server certificate names localhost). */
  origin: string;
  stop(): Promise<void>;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Starts an mTLS server on 127.0.0.1 (port 0 = random). Unhandled handler errors become a 500. */
export async function startMtlsServer(pki: Pki, handler: RequestHandler, port = 0): Promise<RunningHttpsServer> {
  const server = createServer(
    {
      cert: pki.server.certPem,
      key: pki.server.keyPem,
      ca: pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      handler(req, res).catch((err: unknown) => {
        if (res.headersSent || res.destroyed) {
          res.destroy();
          return;
        }
        sendJson(res, 500, { error: 'internal_error', message: err instanceof Error ? err.message : String(err) });
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    server,
    port: actualPort,
    origin: `https://localhost:${actualPort}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function recordOf(req: IncomingMessage, body: string): RecordedRequest {
  return { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': `${contentType};charset=utf-8`, 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export type BearerResult =
  | { ok: true; claims: JWTPayload; scopes: string[] }
  /** `missing`: no bearer token at all; `invalid`: bad signature, issuer, expiry or shape. */
  | { ok: false; reason: 'missing' | 'invalid'; description: string };

const jwksCache = new WeakMap<TokenIssuer, { json: string; set: ReturnType<typeof createLocalJWKSet> }>();

/** Verifies `Authorization: Bearer <JWT>`: RS256 signature by the IAM's keys, `iss`, `exp`. */
export async function verifyBearer(authorization: string | undefined, iam: TokenIssuer): Promise<BearerResult> {
  const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(authorization ?? '');
  if (!match) {
    return authorization
      ? { ok: false, reason: 'invalid', description: 'The Authorization header is not a Bearer token' }
      : { ok: false, reason: 'missing', description: 'An access token is required' };
  }
  try {
    const { payload } = await jwtVerify(match[1], keySetOf(iam), { issuer: iam.issuer, algorithms: ['RS256'], requiredClaims: ['exp'] });
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
    return { ok: true, claims: payload, scopes };
  } catch (err) {
    return { ok: false, reason: 'invalid', description: describeJoseError(err) };
  }
}

function keySetOf(iam: TokenIssuer): ReturnType<typeof createLocalJWKSet> {
  // The IAM may rotate its keys: rebuild the key set when the published keys change.
  const jwks = iam.publicJwks();
  const json = JSON.stringify(jwks);
  const cached = jwksCache.get(iam);
  if (cached && cached.json === json) return cached.set;
  const set = createLocalJWKSet(jwks as unknown as JSONWebKeySet);
  jwksCache.set(iam, { json, set });
  return set;
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'The access token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The access token claim "${err.claim}" is invalid`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) {
    return 'The access token signature is not from the IAM';
  }
  return 'The access token is malformed or not signed by the IAM';
}

/** `Bearer error="...", error_description="..."` (RFC 6750 section 3). */
export function bearerChallenge(error?: 'invalid_token' | 'insufficient_scope', description?: string, scope?: string): string {
  const parts: string[] = [];
  if (error) parts.push(`error="${error}"`);
  if (description) parts.push(`error_description="${description.replace(/["\\]/g, '')}"`);
  if (scope) parts.push(`scope="${scope}"`);
  parts.push('realm="cara"');
  return `Bearer ${parts.join(', ')}`;
}
