/**
 * ITI-72: requests to AIM and the FHIR Vault carrying `Authorization: Bearer <token>`.
 *
 * - The token goes only to the configured origins; any other URL is refused before sending.
 * - 401: the token is invalidated, a new one fetched, and the request sent once more (for
 *   every method: a 401 means the server rejected the request before processing it).
 * - 429/503 (Retry-After honoured), 502/504, resets and timeouts are retried for idempotent
 *   requests only, with exponential backoff and jitter, up to `maxRetries`.
 * - A final non-2xx answer becomes CaraError CARA_HTTP (statusCode, parsed JSON body as
 *   `outcome`, a message naming the issues); message and outcome are scrubbed of the token and
 *   other secrets (servers and gateways may echo the Authorization header).
 * - The client's close() (option `signal`) ends retry waits at once with CARA_CLOSED.
 */
import { STATUS_CODES } from 'node:http';
import type { Dispatcher } from 'undici';
import { CaraError } from './errors';
import { describeUrl, headerValue, sendHttp, type HttpRequest, type HttpResponse } from './http';
import { redact as redactSecrets, redactJson } from './redact';
import { backoffDelayMs, defaultSleep, retryAfterMs, retryPolicy, type RetryPolicy } from './retry';
import { describeErrorBody } from './fhir/outcome';

export type { RetryPolicy } from './retry';

export interface TokenSource {
  get(): Promise<{ value: string }>;
  /** The server refused `value`: drop it so that the next get() returns a new token. */
  invalidate(value: string): void;
}

export interface AuthorizedRequest extends Omit<HttpRequest, 'timeoutMs'> {
  /** Whether sending it twice is harmless; only then are 429/5xx/resets/timeouts retried. */
  idempotent: boolean;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
}

export interface AuthorizedHttpOptions {
  dispatcher: Dispatcher;
  tokens: TokenSource;
  /** Origins (or URLs, of which the origin counts) that may receive the token. */
  allowedOrigins: string[];
  timeoutMs: number;
  retry?: Partial<RetryPolicy>;
  /** Scrubs secrets (current token, passphrases) from text that came from outside. */
  redact?: (t: string) => string;
  /** The client's lifetime: once aborted (close()), retry waits end and no attempt starts (CARA_CLOSED). */
  signal?: AbortSignal;
  /** Injected by tests to record waits instead of waiting; must return early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Statuses worth another try for an idempotent request. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/** Statuses whose Retry-After says when to come back. */
const RETRY_AFTER_STATUS = new Set([429, 503]);

export function statusText(statusCode: number): string {
  return STATUS_CODES[statusCode] ?? `HTTP ${statusCode}`;
}

function originOf(value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    throw new CaraError('CARA_CONFIG', `allowed origin "${value}" is not a URL; expected e.g. https://ws-fhir-mtls.cara.ch`, {
      property: 'allowedOrigins',
    });
  }
}

function isSuccess(statusCode: number): boolean {
  return (statusCode >= 200 && statusCode < 300) || statusCode === 304;
}

function parseJsonQuietly(res: HttpResponse): unknown {
  if (res.body.length === 0) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The start of a plain-text error body (a gateway's "upstream timed out"); HTML pages are noise. */
function plainTextExcerpt(res: HttpResponse): string | undefined {
  if (!/^text\/plain\b/i.test(headerValue(res.headers, 'content-type') ?? '')) return undefined;
  const excerpt = res.body.toString('utf8', 0, 200).replace(/\s+/g, ' ').trim();
  return excerpt || undefined;
}

export class AuthorizedHttp {
  private readonly dispatcher: Dispatcher;
  private readonly tokens: TokenSource;
  private readonly allowed: ReadonlySet<string>;
  private readonly timeoutMs: number;
  private readonly policy: RetryPolicy;
  private readonly scrub: (t: string) => string;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly lifetime?: AbortSignal;

  constructor(o: AuthorizedHttpOptions) {
    this.dispatcher = o.dispatcher;
    this.tokens = o.tokens;
    this.allowed = new Set(o.allowedOrigins.map(originOf));
    this.timeoutMs = o.timeoutMs;
    this.policy = retryPolicy(o.retry);
    this.scrub = o.redact ?? ((t) => t);
    this.sleep = o.sleep ?? defaultSleep;
    this.lifetime = o.signal;
  }

  /** Whether a URL may receive the token. */
  isAllowed(url: URL): boolean {
    return this.allowed.has(url.origin);
  }

  async send(req: AuthorizedRequest): Promise<HttpResponse> {
    if (!this.isAllowed(req.url)) {
      throw new CaraError('CARA_UNSAFE_LINK', `refusing to send the access token to ${describeUrl(req.url)}: not a configured AIM or FHIR origin`, {
        property: 'url',
      });
    }
    const timeoutMs = req.timeoutMs ?? this.timeoutMs;
    // A retry wait ends at the caller's abort or at the client's close(). A request already on
    // the wire is not cut by close(): it gets the client's grace period (see client.ts close()).
    const signals = [req.signal, this.lifetime].filter((s): s is AbortSignal => s !== undefined);
    const waitSignal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    this.throwIfClosed(req);
    let renewed = false;
    let retries = 0;
    for (;;) {
      const token = (await this.tokens.get()).value;
      const httpReq: HttpRequest = { ...req, timeoutMs, headers: withBearer(req.headers, token) };
      let res: HttpResponse;
      try {
        res = await sendHttp(this.dispatcher, httpReq);
      } catch (err) {
        this.throwIfClosed(req);
        const retryable = err instanceof CaraError && err.retryable && req.idempotent && !req.signal?.aborted;
        if (!retryable || retries >= this.policy.maxRetries) throw err;
        await this.pause(backoffDelayMs(this.policy, retries), req, waitSignal);
        retries += 1;
        continue;
      }

      if (res.statusCode === 401 && !renewed) {
        // The token may have been revoked or expired early: one new token, one more try.
        this.tokens.invalidate(token);
        renewed = true;
        continue;
      }
      if (RETRYABLE_STATUS.has(res.statusCode) && req.idempotent && retries < this.policy.maxRetries) {
        const hinted = RETRY_AFTER_STATUS.has(res.statusCode)
          ? retryAfterMs(headerValue(res.headers, 'retry-after'), this.policy.maxDelayMs)
          : undefined;
        await this.pause(hinted ?? backoffDelayMs(this.policy, retries), req, waitSignal);
        retries += 1;
        continue;
      }
      if (!isSuccess(res.statusCode)) throw this.httpError(req, res, token, renewed);
      return res;
    }
  }

  /** Waits before a retry; a request aborted meanwhile (its own abort, or close()) is not sent again. */
  private async pause(ms: number, req: AuthorizedRequest, signal: AbortSignal | undefined): Promise<void> {
    await this.sleep(ms, signal);
    this.throwIfClosed(req);
    if (req.signal?.aborted) throw new CaraError('CARA_CLOSED', `${req.method} ${describeUrl(req.url)}: aborted while waiting to retry`);
  }

  private throwIfClosed(req: AuthorizedRequest): void {
    if (this.lifetime?.aborted) {
      throw new CaraError('CARA_CLOSED', `${req.method} ${describeUrl(req.url)}: the CARA client was closed (redeploy); the request was abandoned`);
    }
  }

  private httpError(req: AuthorizedRequest, res: HttpResponse, token: string, renewed: boolean): CaraError {
    // The body goes to Catch flows and debug as msg.outcome: scrubbed like the message.
    const scrub = (text: string): string => this.scrub(redactSecrets(text, [token]));
    const outcome = redactJson(parseJsonQuietly(res), scrub);
    const detail = describeErrorBody(outcome) ?? (outcome === undefined ? plainTextExcerpt(res) : undefined);
    const hint = res.statusCode === 401 && renewed ? ' (refused again with a new access token: check the client\'s scopes and registration)' : '';
    const message = `${req.method} ${describeUrl(req.url)} answered ${res.statusCode} ${statusText(res.statusCode)}${detail ? `: ${detail}` : ''}${hint}`;
    return new CaraError('CARA_HTTP', scrub(message), {
      statusCode: res.statusCode,
      outcome,
      retryable: RETRYABLE_STATUS.has(res.statusCode),
    });
  }
}

/** The caller's headers with our Authorization (any caller-supplied one is dropped). */
function withBearer(headers: Record<string, string> | undefined, token: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'authorization') result[name] = value;
  }
  result.authorization = `Bearer ${token}`;
  return result;
}
