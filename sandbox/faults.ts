/**
 * Programmable faults for the sandbox servers (AIM, FHIR Vault): static settings for demos
 * (latency, random 503s) and queued one-shot faults for tests ("the next GET gets a 429").
 * A server records a request first, then asks the injector, then handles the request normally.
 */
import type { ServerResponse } from 'node:http';

export type Fault =
  /** Answer with this status (e.g. 401, 429 + Retry-After, 502, 503, 504) instead of handling the request. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; body?: unknown }
  /** Destroy the socket without answering (the client sees a reset / closed connection). */
  | { kind: 'drop' }
  /** Answer late (for client timeouts), then handle the request normally. */
  | { kind: 'delay'; ms: number };

export interface FaultSettings {
  /** Added to every request before it is handled. */
  latencyMs?: number;
  /** Share of requests (0..1) answered with 503 + Retry-After: 1. */
  errorRate?: number;
  /** Share of requests (0..1) answered with 429 + Retry-After (rate limiting). */
  rateLimitRate?: number;
  /** Retry-After of those 429 answers, seconds (default 1). */
  retryAfterSeconds?: number;
  /** Share of requests (0..1) whose connection is dropped without an answer. */
  dropRate?: number;
}

export interface FaultTarget {
  method: string;
  path: string;
}

interface QueuedFault {
  fault: Fault;
  remaining: number;
  match?: (req: FaultTarget) => boolean;
}

/** What the server wants in the body of a status fault (an OperationOutcome, a JSON error). */
export type FaultBodyFactory = (status: number) => { contentType: string; body: unknown };

export class FaultInjector {
  settings: FaultSettings;
  private readonly queued: QueuedFault[] = [];
  private readonly pendingDelays = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(settings: FaultSettings = {}) {
    this.settings = { ...settings };
  }

  /** The next `times` requests (optionally only those matching `match`, e.g. by method) get `fault`. */
  queue(fault: Fault, times = 1, match?: (req: FaultTarget) => boolean): void {
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer, got ${times}`);
    this.queued.push({ fault, remaining: times, match });
  }

  /** Forgets queued faults and static settings; requests waiting in a delay go on at once. */
  clear(): void {
    this.queued.length = 0;
    this.settings = {};
    this.releaseDelays();
  }

  /** How many queued fault applications are still waiting for a request. */
  get pendingCount(): number {
    return this.queued.reduce((sum, q) => sum + q.remaining, 0);
  }

  /** Lets every request waiting in a delay go on at once (used when a server stops). */
  releaseDelays(): void {
    for (const pending of this.pendingDelays) {
      clearTimeout(pending.timer);
      pending.resolve();
    }
    this.pendingDelays.clear();
  }

  /**
   * Applies the fault due for this request, if any. Returns true when the request has been
   * answered (or dropped) and must not be handled further.
   */
  async apply(target: FaultTarget, res: ServerResponse, bodyFor: FaultBodyFactory): Promise<boolean> {
    const fault = this.take(target) ?? this.fromSettings();
    if (this.settings.latencyMs && this.settings.latencyMs > 0) await this.sleep(this.settings.latencyMs);
    if (!fault) return false;
    switch (fault.kind) {
      case 'delay':
        await this.sleep(fault.ms);
        return res.destroyed;
      case 'drop':
        res.socket?.destroy();
        return true;
      case 'status':
        answerStatusFault(res, fault, bodyFor);
        return true;
    }
  }

  private take(target: FaultTarget): Fault | undefined {
    const index = this.queued.findIndex((q) => !q.match || q.match(target));
    if (index < 0) return undefined;
    const entry = this.queued[index];
    entry.remaining -= 1;
    if (entry.remaining <= 0) this.queued.splice(index, 1);
    return entry.fault;
  }

  /** One draw decides the request's fate, so the rates add up (0.1 + 0.1 = 20 % faulty). */
  private fromSettings(): Fault | undefined {
    const { errorRate = 0, rateLimitRate = 0, dropRate = 0, retryAfterSeconds = 1 } = this.settings;
    if (errorRate + rateLimitRate + dropRate <= 0) return undefined;
    const draw = Math.random();
    if (draw < errorRate) return { kind: 'status', status: 503, retryAfterSeconds: 1 };
    if (draw < errorRate + rateLimitRate) return { kind: 'status', status: 429, retryAfterSeconds };
    if (draw < errorRate + rateLimitRate + dropRate) return { kind: 'drop' };
    return undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const pending = {
        timer: setTimeout(() => {
          this.pendingDelays.delete(pending);
          resolve();
        }, ms),
        resolve,
      };
      this.pendingDelays.add(pending);
    });
  }
}

function answerStatusFault(res: ServerResponse, fault: Extract<Fault, { kind: 'status' }>, bodyFor: FaultBodyFactory): void {
  if (res.headersSent || res.destroyed) return;
  const { contentType, body } = fault.body === undefined ? bodyFor(fault.status) : { contentType: 'application/json', body: fault.body };
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(text)) };
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (fault.status === 401) headers['WWW-Authenticate'] = 'Bearer error="invalid_token", error_description="Injected fault"';
  res.writeHead(fault.status, headers);
  res.end(text);
}
