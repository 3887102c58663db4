/**
 * Local verification of a JWT access token against the IAM's JWKS (fetched over the same
 * mTLS agent, cached): signature, `iss`, `exp`/`nbf` with a clock tolerance. Failures say why
 * (expired, bad signature, wrong issuer) and never contain the token.
 */
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWSHeaderParameters, type JWTPayload } from 'jose';
import type { Dispatcher } from 'undici';
import { CaraError } from './errors';
import { describeUrl, parseJsonBody, sendHttp } from './http';

export interface VerifiedToken {
  claims: JWTPayload;
  protectedHeader: JWSHeaderParameters;
}

export interface VerifierOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** Resolved lazily (discovery runs on first need). */
  endpoints: () => Promise<{ issuer?: string; jwksUri?: string }>;
  /** Seconds of clock skew accepted on exp/nbf. Default 30. */
  clockToleranceSec?: number;
  /** How long a fetched JWKS is used before it is fetched again. Default 10 min. */
  jwksMaxAgeMs?: number;
  /** Minimum time between two fetches forced by an unknown `kid` (key rotation). Default 30 s. */
  jwksCooldownMs?: number;
  now?: () => number;
}

type KeySet = ReturnType<typeof createLocalJWKSet>;

const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function invalid(reason: string, cause?: unknown): CaraError {
  return new CaraError('CARA_TOKEN_INVALID', `the access token is not valid: ${reason}`, { cause });
}

export class TokenVerifier {
  private keySet?: { keys: KeySet; fetchedAt: number; uri: string };
  private fetching?: Promise<KeySet>;

  constructor(private readonly options: VerifierOptions) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  async verify(token: string): Promise<VerifiedToken> {
    const { issuer, jwksUri } = await this.options.endpoints();
    if (!issuer || !jwksUri) {
      throw new CaraError('CARA_CONFIG', 'cannot verify tokens locally: the issuer or the JWKS URI is unknown; configure the issuer', {
        property: 'issuer',
      });
    }
    let keys = await this.keys(jwksUri, false);
    try {
      return await this.check(token, keys, issuer);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw this.explain(err, issuer);
    }
    // Unknown kid: the IAM may have rotated its keys; fetch again (rate-limited), once.
    keys = await this.keys(jwksUri, true);
    try {
      return await this.check(token, keys, issuer);
    } catch (err) {
      throw this.explain(err, issuer);
    }
  }

  private async check(token: string, keys: KeySet, issuer: string): Promise<VerifiedToken> {
    const { payload, protectedHeader } = await jwtVerify(token, keys, {
      issuer,
      algorithms: ASYMMETRIC_ALGORITHMS,
      clockTolerance: this.options.clockToleranceSec ?? 30,
      currentDate: new Date(this.now()),
      requiredClaims: ['exp'],
    });
    return { claims: payload, protectedHeader };
  }

  private async keys(uri: string, afterUnknownKid: boolean): Promise<KeySet> {
    const cached = this.keySet;
    const age = cached && cached.uri === uri ? this.now() - cached.fetchedAt : Infinity;
    const maxAge = afterUnknownKid ? (this.options.jwksCooldownMs ?? 30_000) : (this.options.jwksMaxAgeMs ?? 600_000);
    if (cached && age < maxAge) return cached.keys;
    this.fetching ??= this.fetchKeys(uri).finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async fetchKeys(uri: string): Promise<KeySet> {
    const url = new URL(uri);
    const where = `JWKS at ${describeUrl(url)}`;
    const res = await sendHttp(this.options.dispatcher, { method: 'GET', url, headers: { accept: 'application/json' }, timeoutMs: this.options.timeoutMs });
    if (res.statusCode !== 200) {
      throw new CaraError('CARA_HTTP', `${where} answered ${res.statusCode}; expected the IAM's signing keys`, {
        statusCode: res.statusCode,
        retryable: res.statusCode >= 500,
      });
    }
    const doc = parseJsonBody(res, where);
    let keys: KeySet;
    try {
      keys = createLocalJWKSet(doc as JSONWebKeySet);
    } catch (err) {
      throw new CaraError('CARA_BAD_RESPONSE', `${where} is not a JSON Web Key Set`, { cause: err });
    }
    this.keySet = { keys, fetchedAt: this.now(), uri };
    return keys;
  }

  private explain(err: unknown, issuer: string): CaraError {
    if (err instanceof CaraError) return err;
    if (err instanceof errors.JWTExpired) {
      const exp = typeof err.payload.exp === 'number' ? ` at ${new Date(err.payload.exp * 1000).toISOString()}` : '';
      return invalid(`it expired${exp}`, err);
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'iss') return invalid(`issuer mismatch: issued by "${String(err.payload.iss)}", expected "${issuer}"`, err);
      if (err.claim === 'nbf') return invalid('it is not valid yet (nbf in the future)', err);
      if (err.claim === 'exp' && err.reason === 'missing') return invalid('it has no exp claim', err);
      return invalid(`claim "${err.claim}" failed: ${err.reason}`, err);
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('signature invalid', err);
    if (err instanceof errors.JWKSNoMatchingKey) return invalid("no key of the IAM's JWKS matches the token's key id (kid)", err);
    if (err instanceof errors.JOSEAlgNotAllowed) return invalid('its signing algorithm is not allowed (asymmetric algorithms only)', err);
    if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
      return invalid('it is not a well-formed signed JWT', err);
    }
    return invalid(err instanceof Error ? err.name : 'unknown error', err);
  }
}
