/**
 * A scripted HTTPS server for faults no real peer produces on demand (and for a "foreign"
 * origin that must never see the token). Real mTLS: it requires a client certificate
 * signed by the sandbox CA, like AIM and the vault.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { loadClientTls, createAgent } from '../../src/tls';
import type { Pki } from '../../sandbox/pki';
import { readBody, recordOf, startMtlsServer, type RecordedRequest } from '../../sandbox/https-server';
import type { Agent } from 'undici';

export type ScriptedReply =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  /** Destroy the socket without answering. */
  | { drop: true }
  /** Never answer (until the server stops). */
  | { hang: true };

export interface ScriptedServer {
  origin: string;
  requests: RecordedRequest[];
  /** Replies used in order, one per request; when empty, `fallback` answers. */
  script(...replies: ScriptedReply[]): void;
  /** Forgets unused replies and recorded requests. */
  reset(): void;
  fallback: (req: RecordedRequest) => ScriptedReply;
  stop(): Promise<void>;
}

export async function startScriptedServer(pki: Pki): Promise<ScriptedServer> {
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const state: ScriptedServer = {
    origin: '',
    requests,
    script: (...replies) => void queue.push(...replies),
    reset: () => {
      queue.length = 0;
      requests.length = 0;
    },
    fallback: () => ({ status: 200, body: { ok: true } }),
    stop: async () => undefined,
  };
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const record = recordOf(req, await readBody(req));
    requests.push(record);
    const reply = queue.shift() ?? state.fallback(record);
    if ('drop' in reply) {
      res.socket?.destroy();
      return;
    }
    if ('hang' in reply) {
      hanging.add(res);
      return;
    }
    const text = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    const type = typeof reply.body === 'string' ? 'text/plain' : 'application/json';
    res.writeHead(reply.status, { 'content-type': type, 'content-length': String(Buffer.byteLength(text)), ...reply.headers });
    res.end(text);
  };
  const running = await startMtlsServer(pki, handler);
  state.origin = running.origin;
  state.stop = async () => {
    for (const res of hanging) res.destroy();
    await running.stop();
  };
  return state;
}

/** An mTLS undici Agent for the sandbox PKI, as cara-config would build it. */
export async function sandboxAgent(pki: Pki, commonName = 'tcu-test'): Promise<Agent> {
  const identity = pki.client(commonName);
  const tls = await loadClientTls({ certificate: { type: 'pem', cert: identity.certPem, key: identity.keyPem }, extraCa: [pki.ca.certPem] });
  return createAgent(tls, { connectTimeoutMs: 5_000 });
}

/** A TokenSource that hands out t1, t2, ... and records invalidations. */
export class CountingTokens {
  private counter = 1;
  readonly invalidated: string[] = [];
  readonly issued: string[] = [];
  constructor(private readonly prefix = 'test-token-') {}
  async get(): Promise<{ value: string }> {
    const value = `${this.prefix}${this.counter}`;
    if (this.issued[this.issued.length - 1] !== value) this.issued.push(value);
    return { value };
  }
  invalidate(value: string): void {
    this.invalidated.push(value);
    if (value === `${this.prefix}${this.counter}`) this.counter += 1;
  }
}
