/**
 * AIM (CARA "authx"): MPI-ID -> Account URN -> vault partition, with a small cache.
 *
 * The cache is keyed by the normalised MPI-ID URN, bounded in size (least recently used
 * entries go first) and time (`cacheTtlMs`); lookups of the same MPI-ID that overlap share
 * one request; failures are never cached.
 */
import type { AuthorizedHttp } from './authorized';
import { CaraError, isCaraError } from './errors';
import { parseJsonBody } from './http';
import { normalizeMpiId } from './mpi-id';
import { redact, redactJson } from './redact';
import { PARTITION_PATTERN, parseServiceUrl } from './fhir/urls';

export interface AccountResolution {
  mpiIdUrn: string;
  accountUrn: string;
  /** The vault partition: the Account URN without `urn:cara:account:`. */
  partition: string;
  /** True when answered from the cache (no request). */
  cached: boolean;
}

export interface AimClientOptions {
  http: AuthorizedHttp;
  /** AIM origin, e.g. https://ws-authx-mtls-val.cara.ch */
  aimUrl: string;
  /** 0 = no cache; default 300_000 (5 min). */
  cacheTtlMs?: number;
  /** Default 10_000. */
  cacheMaxEntries?: number;
  /** Scrubs secrets (current token, passphrases) from what AIM answered; default: secret-shaped text only. */
  redact?: (text: string) => string;
  /** Injected by tests. */
  now?: () => number;
}

export const ACCOUNT_URN_PREFIX = 'urn:cara:account:';
export const AIM_QUERY_PATH = '/api/v1/query/get-account-urn-from-mpi-id-urn';

/** `urn:cara:account:<name>` -> `<name>`; CARA_BAD_RESPONSE when it is not a usable partition. */
export function partitionFromAccountUrn(accountUrn: string): string {
  if (typeof accountUrn === 'string' && accountUrn.toLowerCase().startsWith(ACCOUNT_URN_PREFIX)) {
    const partition = accountUrn.slice(ACCOUNT_URN_PREFIX.length);
    if (PARTITION_PATTERN.test(partition)) return partition;
  }
  throw new CaraError(
    'CARA_BAD_RESPONSE',
    'AIM returned an account URN that is not "urn:cara:account:<name>" with a name of letters, digits, "_" or "-" (at most 200)',
  );
}

interface CacheEntry {
  accountUrn: string;
  partition: string;
  storedAt: number;
}

export interface ResolveOptions {
  /** The oldest cached answer this caller accepts, ms; 0 = always ask AIM. Default: the client's TTL. */
  maxAgeMs?: number;
}

export class AimClient {
  private readonly http: AuthorizedHttp;
  private readonly url: URL;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly scrub: (text: string) => string;
  private readonly cache = new Map<string, CacheEntry>();
  /** How long entries are kept: the longest age any caller has accepted. */
  private retentionMs: number;
  private readonly inFlight = new Map<string, Promise<AccountResolution>>();

  constructor(o: AimClientOptions) {
    this.http = o.http;
    const origin = parseServiceUrl('aimUrl', o.aimUrl, 'https://ws-authx-mtls-val.cara.ch');
    this.url = new URL(`${origin.href.replace(/\/+$/, '')}${AIM_QUERY_PATH}`);
    this.ttlMs = Math.max(0, o.cacheTtlMs ?? 300_000);
    this.retentionMs = this.ttlMs;
    this.maxEntries = Math.max(1, o.cacheMaxEntries ?? 10_000);
    this.now = o.now ?? Date.now;
    this.scrub = o.redact ?? ((text) => redact(text));
  }

  /** `mpiId` in URN or `<oid>/<extension>` form; CARA_INPUT (nothing sent) when malformed. */
  async resolve(mpiId: string, options: ResolveOptions = {}): Promise<AccountResolution> {
    const mpiIdUrn = normalizeMpiId(mpiId, 'mpiId');
    const maxAgeMs = Math.max(0, options.maxAgeMs ?? this.ttlMs);
    // Nodes sharing one config may want different ages: keep answers as long as anyone wants them.
    this.retentionMs = Math.max(this.retentionMs, maxAgeMs);
    const hit = this.fromCache(mpiIdUrn, maxAgeMs);
    if (hit) return hit;
    const pending = maxAgeMs > 0 ? this.inFlight.get(mpiIdUrn) : undefined;
    if (pending) return pending;
    const lookup = this.lookup(mpiIdUrn).finally(() => this.inFlight.delete(mpiIdUrn));
    this.inFlight.set(mpiIdUrn, lookup);
    return lookup;
  }

  clearCache(): void {
    this.cache.clear();
  }

  private fromCache(mpiIdUrn: string, maxAgeMs: number): AccountResolution | undefined {
    const entry = this.cache.get(mpiIdUrn);
    if (!entry) return undefined;
    const age = this.now() - entry.storedAt;
    if (age >= this.retentionMs) {
      this.cache.delete(mpiIdUrn);
      return undefined;
    }
    if (age >= maxAgeMs) return undefined;
    this.cache.delete(mpiIdUrn);
    this.cache.set(mpiIdUrn, entry); // re-insert: most recently used goes last
    return { mpiIdUrn, accountUrn: entry.accountUrn, partition: entry.partition, cached: true };
  }

  private remember(mpiIdUrn: string, accountUrn: string, partition: string): void {
    if (this.retentionMs === 0) return;
    this.cache.delete(mpiIdUrn);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(mpiIdUrn, { accountUrn, partition, storedAt: this.now() });
  }

  private async lookup(mpiIdUrn: string): Promise<AccountResolution> {
    let body: unknown;
    try {
      const res = await this.http.send({
        method: 'POST',
        url: this.url,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ mpiIdUrn }),
        // A query: asking twice changes nothing, so 429/5xx/resets are retried.
        idempotent: true,
      });
      if (res.statusCode === 204 || res.body.length === 0) {
        throw new CaraError('CARA_BAD_RESPONSE', `AIM answered ${res.statusCode} without a body; expected {"accountUrn": "urn:cara:account:..."}`, {
          statusCode: res.statusCode,
        });
      }
      body = parseJsonBody(res, 'AIM account resolution');
    } catch (err) {
      throw explain(err);
    }
    const accountUrn = (body as { accountUrn?: unknown } | null)?.accountUrn;
    if (typeof accountUrn !== 'string') {
      throw new CaraError('CARA_BAD_RESPONSE', 'AIM answered without an "accountUrn" string; expected {"accountUrn": "urn:cara:account:..."}', {
        statusCode: 200,
        // Shown to Catch flows and debug as msg.outcome: scrubbed like any text from outside.
        outcome: redactJson(body, this.scrub),
      });
    }
    const partition = partitionFromAccountUrn(accountUrn);
    this.remember(mpiIdUrn, accountUrn, partition);
    return { mpiIdUrn, accountUrn, partition, cached: false };
  }
}

/** AIM's status codes in the words of the user's problem. */
function explain(err: unknown): unknown {
  if (!isCaraError(err) || err.code !== 'CARA_HTTP') return err;
  const details = { statusCode: err.statusCode, outcome: err.outcome, cause: err };
  switch (err.statusCode) {
    case 404:
      return new CaraError('CARA_UNKNOWN_PATIENT', `AIM knows no account for this MPI-ID (404): ${err.message}`, details);
    case 400:
      return new CaraError('CARA_HTTP', `AIM refused the MPI-ID as malformed (400): ${err.message}`, details);
    case 401:
      return new CaraError('CARA_HTTP', `AIM refused the access token (401): ${err.message}`, details);
    case 403:
      return new CaraError('CARA_HTTP', `AIM denied access (403; the client may lack the ns:cara:authx.Reader scope): ${err.message}`, details);
    default:
      return err;
  }
}
