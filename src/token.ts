/**
 * ITI-71 access tokens (OAuth client_credentials over mTLS, no secret).
 *
 * One TokenManager per cara-config: the token is cached, only ONE request is ever in flight,
 * and it is renewed in the background before it expires, so that in steady state no caller
 * waits. A failed renewal keeps the still-valid token and retries with bounded exponential
 * backoff and jitter. OAuth refusals that only a human can fix (invalid_client, invalid_scope,
 * ...) are reported and not retried in the background; an explicit get() may try again, at
 * most once per backoff period.
 */
import { EventEmitter } from 'node:events';
import { decodeJwt } from 'jose';
import type { Dispatcher } from 'undici';
import { CaraError } from './errors';
import { describeUrl, parseJsonBody, sendHttp, type HttpResponse } from './http';
import { oauthRefusal } from './oauth';
import { redact } from './redact';
import { backoffDelayMs, retryPolicy, type RetryPolicy } from './retry';

export interface AccessToken {
  value: string;
  tokenType: 'Bearer';
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms (when the request was sent: lifetimes are counted conservatively from there). */
  obtainedAt: number;
  /** Scope granted (from the response), else the scope asked for. */
  scope?: string;
  /** The JWT payload, decoded but NOT verified (use verify.ts for that). */
  claims?: Record<string, unknown>;
}

export type TokenState =
  | { state: 'idle' }
  | { state: 'ok'; expiresAt: number }
  | { state: 'renewing'; expiresAt?: number }
  /** `expiresAt` is set while a still-valid token is being served despite the failure. */
  | { state: 'failing'; reason: string; retryAt?: number; expiresAt?: number };

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface TokenManagerOptions {
  dispatcher: Dispatcher;
  clientId: string;
  /** Space-separated; empty/undefined = no scope parameter. */
  scope?: string;
  /** The token endpoint, or a function resolving it (discovery runs on first need). */
  tokenEndpoint: string | (() => Promise<string>);
  timeoutMs: number;
  /** First retry delay after a failure (doubles each time, with jitter). Default 1 s. */
  backoffInitialMs?: number;
  /** Upper bound of the retry delay. Default 30 s. */
  backoffMaxMs?: number;
  /** Lifetime assumed when the server gives neither expires_in nor a JWT exp. Default 60 s. */
  defaultLifetimeMs?: number;
  /** Extra secrets to scrub from reasons (passphrases). */
  secrets?: string[];
  clock?: Clock;
  random?: () => number;
}

/** Renewal starts at 80 % of the lifetime or 60 s before expiry, whichever is earlier... */
const RENEW_FRACTION = 0.8;
const RENEW_MARGIN_MS = 60_000;
/** ...but not before half of the lifetime has passed (short test lifetimes), nor in a tight loop. */
const MIN_RENEW_FRACTION = 0.5;
const MIN_RENEW_DELAY_MS = 500;
/** setTimeout fires at once beyond 2^31-1 ms: a token of a year's life must not renew in a loop. */
const MAX_TIMER_MS = 2_147_483_647;

export function renewalDelayMs(lifetimeMs: number): number {
  const preferred = Math.min(lifetimeMs * RENEW_FRACTION, lifetimeMs - RENEW_MARGIN_MS);
  return Math.max(preferred, lifetimeMs * MIN_RENEW_FRACTION, MIN_RENEW_DELAY_MS);
}

/** A token is handed out only while it has this margin left (clock skew, request time). */
function expiryMarginMs(lifetimeMs: number): number {
  return Math.min(5_000, lifetimeMs * 0.1);
}

export class TokenManager extends EventEmitter {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: RetryPolicy;
  private token?: AccessToken;
  private tokenPromise?: Promise<AccessToken>;
  private previousValue?: string;
  private inFlight?: Promise<AccessToken>;
  private abort?: AbortController;
  private timer?: unknown;
  private failures = 0;
  private lastError?: CaraError;
  private retryAt?: number;
  private closed = false;
  private currentState: TokenState = { state: 'idle' };

  constructor(private readonly options: TokenManagerOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.backoff = retryPolicy({ baseDelayMs: options.backoffInitialMs ?? 1_000, maxDelayMs: options.backoffMaxMs ?? 30_000 });
  }

  get state(): TokenState {
    return this.currentState;
  }

  /** The cached token, if any (possibly expired). */
  get current(): AccessToken | undefined {
    return this.token;
  }

  /** Token values to scrub from text: the current one and the one before it. */
  get knownValues(): string[] {
    return [this.token?.value, this.previousValue].filter((v): v is string => !!v);
  }

  /** A usable token: from the cache when valid (no waiting), else from the single request in flight. */
  get(): Promise<AccessToken> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.tokenPromise && this.usable(this.token)) return this.tokenPromise;
    if (this.inFlight) return this.inFlight;
    if (this.lastError && this.retryAt !== undefined && this.clock.now() < this.retryAt) {
      return Promise.reject(this.lastError);
    }
    return this.request();
  }

  /** A new token even if the cached one is valid (joins a request already in flight). */
  renew(): Promise<AccessToken> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.inFlight) return this.inFlight;
    if (this.lastError && this.retryAt !== undefined && this.clock.now() < this.retryAt) {
      return Promise.reject(this.lastError);
    }
    return this.request();
  }

  /** After a 401 with `value`: forget it so the next get() asks for a new one. Stale values are ignored. */
  invalidate(value: string): void {
    if (!this.token || this.token.value !== value) return;
    this.previousValue = this.token.value;
    this.token = undefined;
    this.tokenPromise = undefined;
    // A pending timer (renewal or retry) stays: it is replaced when the next token arrives.
    if (this.inFlight) return;
    if (this.lastError) {
      this.setState({ state: 'failing', reason: this.redact(this.lastError.message), ...(this.retryAt !== undefined ? { retryAt: this.retryAt } : {}) });
    } else {
      this.setState({ state: 'idle' });
    }
  }

  close(): void {
    this.closed = true;
    this.clearTimer();
    this.abort?.abort();
    this.removeAllListeners();
  }

  private usable(token: AccessToken | undefined): token is AccessToken {
    if (!token) return false;
    return this.clock.now() < token.expiresAt - expiryMarginMs(token.expiresAt - token.obtainedAt);
  }

  private request(): Promise<AccessToken> {
    const valid = this.usable(this.token) ? this.token : undefined;
    this.clearTimer();
    this.setState({ state: 'renewing', ...(valid ? { expiresAt: valid.expiresAt } : {}) });
    const abort = new AbortController();
    this.abort = abort;
    const attempt = this.fetchToken(abort.signal).then(
      (token) => this.succeeded(token),
      (err: unknown) => this.failed(err),
    );
    this.inFlight = attempt.finally(() => {
      if (this.abort === abort) this.abort = undefined;
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private succeeded(token: AccessToken): AccessToken {
    if (this.closed) throw this.closedError();
    if (this.token && this.token.value !== token.value) this.previousValue = this.token.value;
    this.token = token;
    this.tokenPromise = Promise.resolve(token);
    this.failures = 0;
    this.lastError = undefined;
    this.retryAt = undefined;
    this.schedule(renewalDelayMs(token.expiresAt - token.obtainedAt) - (this.clock.now() - token.obtainedAt));
    this.setState({ state: 'ok', expiresAt: token.expiresAt });
    return token;
  }

  private failed(err: unknown): never {
    const error = err instanceof CaraError ? err : new CaraError('CARA_BAD_RESPONSE', `token request failed: ${String(err)}`, { cause: err });
    if (this.closed) throw this.closedError();
    this.failures += 1;
    // Jittered: many Node-RED instances restarted together spread out.
    const delay = backoffDelayMs(this.backoff, this.failures - 1, this.random);
    this.lastError = error;
    this.retryAt = this.clock.now() + delay;
    const permanent = !error.retryable;
    // Only outages are retried in the background; a refusal waits for an explicit get().
    if (!permanent) this.schedule(delay);
    const valid = this.usable(this.token) ? this.token : undefined;
    this.setState({
      state: 'failing',
      reason: this.redact(error.message),
      retryAt: this.retryAt,
      ...(valid ? { expiresAt: valid.expiresAt } : {}),
    });
    throw error;
  }

  private schedule(delayMs: number): void {
    this.clearTimer();
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed || this.inFlight) return;
      // Background work: a failure is already reported through `state`.
      this.request().catch(() => undefined);
    }, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private setState(state: TokenState): void {
    const before = this.currentState;
    this.currentState = state;
    if (JSON.stringify(before) !== JSON.stringify(state)) this.emit('state', state);
  }

  private redact(text: string): string {
    return redact(text, [...this.knownValues, ...(this.options.secrets ?? [])]);
  }

  private closedError(): CaraError {
    return new CaraError('CARA_CLOSED', 'the CARA client was closed (redeploy); the token request was abandoned');
  }

  private async fetchToken(signal: AbortSignal): Promise<AccessToken> {
    const o = this.options;
    const endpoint = typeof o.tokenEndpoint === 'string' ? o.tokenEndpoint : await o.tokenEndpoint();
    const url = new URL(endpoint);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: o.clientId });
    const scope = o.scope?.trim();
    if (scope) form.set('scope', scope);
    const obtainedAt = this.clock.now();
    const res = await sendHttp(o.dispatcher, {
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      timeoutMs: o.timeoutMs,
      signal,
    });
    const where = `token request to ${describeUrl(url)} for client "${o.clientId}"`;
    if (res.statusCode !== 200) throw oauthRefusal(res, where, (text) => this.redact(text));
    return this.parseToken(res, where, obtainedAt);
  }

  private parseToken(res: HttpResponse, where: string, obtainedAt: number): AccessToken {
    const body = parseJsonBody(res, where);
    const doc = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const value = doc.access_token;
    if (typeof value !== 'string' || value.length === 0) {
      throw new CaraError('CARA_BAD_RESPONSE', `${where}: the answer has no access_token`, { statusCode: res.statusCode, retryable: true });
    }
    if (typeof doc.token_type !== 'string' || doc.token_type.toLowerCase() !== 'bearer') {
      throw new CaraError('CARA_BAD_RESPONSE', `${where}: token_type is "${String(doc.token_type)}", expected "Bearer"`, { statusCode: res.statusCode });
    }
    let claims: Record<string, unknown> | undefined;
    try {
      claims = decodeJwt(value);
    } catch {
      claims = undefined; // an opaque token: fine, the lifetime must then come from expires_in
    }
    const expiresIn = Number(doc.expires_in);
    let expiresAt: number;
    if (doc.expires_in !== undefined && doc.expires_in !== null && Number.isFinite(expiresIn) && expiresIn > 0) {
      expiresAt = obtainedAt + expiresIn * 1000;
    } else if (typeof claims?.exp === 'number') {
      expiresAt = claims.exp * 1000;
    } else {
      expiresAt = obtainedAt + (this.options.defaultLifetimeMs ?? 60_000);
    }
    const scope = typeof doc.scope === 'string' ? doc.scope : this.options.scope?.trim() || undefined;
    return { value, tokenType: 'Bearer', expiresAt, obtainedAt, ...(scope ? { scope } : {}), ...(claims ? { claims } : {}) };
  }
}
