/**
 * ITI-72 request layer against a real mTLS server (scripted replies for the faults).
 */
import { strict as assert } from 'node:assert';
import type { Agent } from 'undici';
import { AuthorizedHttp, type AuthorizedRequest } from '../src/authorized';
import { backoffDelayMs, defaultSleep, retryAfterMs, retryPolicy } from '../src/retry';
import { createPki, type Pki } from '../sandbox/pki';
import { CountingTokens, sandboxAgent, startScriptedServer, type ScriptedServer } from './support/fault-server';
import { rejection } from './support/assertions';

describe('AuthorizedHttp (ITI-72)', () => {
  let pki: Pki;
  let agent: Agent;
  let server: ScriptedServer;
  let foreign: ScriptedServer;
  let tokens: CountingTokens;
  let sleeps: number[];
  let http: AuthorizedHttp;

  before(async () => {
    pki = createPki();
    agent = await sandboxAgent(pki);
    server = await startScriptedServer(pki);
    foreign = await startScriptedServer(pki);
  });
  after(async () => {
    await Promise.all([server.stop(), foreign.stop()]);
    await agent.close();
  });
  beforeEach(() => {
    server.reset();
    foreign.reset();
    tokens = new CountingTokens();
    sleeps = [];
    http = new AuthorizedHttp({
      dispatcher: agent,
      tokens,
      allowedOrigins: [server.origin],
      timeoutMs: 2_000,
      sleep: async (ms) => void sleeps.push(ms),
    });
  });

  const get = (path = '/fhir/p1/Patient/1'): AuthorizedRequest => ({ method: 'GET', url: new URL(path, server.origin), idempotent: true });

  it('sends the bearer token and returns a 2xx answer', async () => {
    const res = await http.send(get());
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body.toString()), { ok: true });
    assert.equal(server.requests[0].headers.authorization, 'Bearer test-token-1');
  });

  it('replaces an Authorization header given by the caller', async () => {
    await http.send({ ...get(), headers: { Authorization: 'Bearer stolen' } });
    assert.equal(server.requests[0].headers.authorization, 'Bearer test-token-1');
  });

  it('on a 401 invalidates the token, gets a new one and retries once (POST too)', async () => {
    server.script({ status: 401, body: { error: 'invalid_token' } });
    const res = await http.send({ method: 'POST', url: new URL('/fhir/p1', server.origin), body: '{}', idempotent: false });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(tokens.invalidated, ['test-token-1']);
    assert.deepEqual(server.requests.map((r) => r.headers.authorization), ['Bearer test-token-1', 'Bearer test-token-2']);
    assert.deepEqual(sleeps, []);
  });

  it('a second 401 is CARA_HTTP 401 without a third request', async () => {
    server.script({ status: 401 }, { status: 401 }, { status: 200 });
    const err = await rejection(http.send(get()));
    assert.equal(err.code, 'CARA_HTTP');
    assert.equal(err.statusCode, 401);
    assert.match(err.message, /401 Unauthorized/);
    assert.equal(server.requests.length, 2);
    // the new token is kept: a second refusal is about rights, not about the token
    assert.deepEqual(tokens.invalidated, ['test-token-1']);
  });

  it('honours Retry-After (seconds) on a 429 for a GET', async () => {
    server.script({ status: 429, headers: { 'retry-after': '7' } });
    const res = await http.send(get());
    assert.equal(res.statusCode, 200);
    assert.deepEqual(sleeps, [7_000]);
    assert.equal(server.requests.length, 2);
  });

  it('honours Retry-After as an HTTP date and caps it at maxDelayMs', async () => {
    http = new AuthorizedHttp({
      dispatcher: agent, tokens, allowedOrigins: [server.origin], timeoutMs: 2_000,
      retry: { maxDelayMs: 5_000 }, sleep: async (ms) => void sleeps.push(ms),
    });
    server.script({ status: 503, headers: { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() } });
    await http.send(get());
    assert.deepEqual(sleeps, [5_000]);
  });

  it('does not retry a POST on 503', async () => {
    server.script({ status: 503, headers: { 'retry-after': '1' }, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient', diagnostics: 'busy' }] } });
    const err = await rejection(http.send({ method: 'POST', url: new URL('/fhir/p1/Observation', server.origin), body: '{}', idempotent: false }));
    assert.equal(err.code, 'CARA_HTTP');
    assert.equal(err.statusCode, 503);
    assert.equal(err.retryable, true);
    assert.match(err.message, /error transient: busy/);
    assert.deepEqual((err.outcome as { resourceType: string }).resourceType, 'OperationOutcome');
    assert.equal(server.requests.length, 1);
    assert.deepEqual(sleeps, []);
  });

  it('does not retry a PATCH on 502', async () => {
    server.script({ status: 502 });
    const err = await rejection(http.send({ method: 'PATCH', url: new URL('/fhir/p1/Observation/1', server.origin), body: '[]', idempotent: false }));
    assert.equal(err.statusCode, 502);
    assert.equal(server.requests.length, 1);
  });

  it('retries a PUT on 503, 502 and 504 with growing backoff', async () => {
    server.script({ status: 503 }, { status: 502 }, { status: 504 });
    const res = await http.send({ method: 'PUT', url: new URL('/fhir/p1/Observation/1', server.origin), body: '{}', idempotent: true });
    assert.equal(res.statusCode, 200);
    assert.equal(server.requests.length, 4);
    assert.equal(sleeps.length, 3);
    // equal jitter: step/2 .. step for steps 200, 400, 800
    assert.ok(sleeps[0] >= 100 && sleeps[0] <= 200, `first wait ${sleeps[0]}`);
    assert.ok(sleeps[1] >= 200 && sleeps[1] <= 400, `second wait ${sleeps[1]}`);
    assert.ok(sleeps[2] >= 400 && sleeps[2] <= 800, `third wait ${sleeps[2]}`);
  });

  it('gives up after maxRetries and reports the last status', async () => {
    server.script({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 200 });
    const err = await rejection(http.send(get()));
    assert.equal(err.statusCode, 503);
    assert.equal(server.requests.length, 4);
  });

  it('retries a GET after a connection reset', async () => {
    server.script({ drop: true });
    const res = await http.send(get());
    assert.equal(res.statusCode, 200);
    assert.equal(server.requests.length, 2);
    assert.equal(sleeps.length, 1);
  });

  it('does not retry a POST after a connection reset', async () => {
    server.script({ drop: true });
    const err = await rejection(http.send({ method: 'POST', url: new URL('/fhir/p1', server.origin), body: '{}', idempotent: false }));
    assert.equal(err.code, 'CARA_NETWORK');
    assert.equal(server.requests.length, 1);
  });

  it('times out a request that gets no answer (CARA_TIMEOUT), retried only if idempotent', async () => {
    http = new AuthorizedHttp({
      dispatcher: agent, tokens, allowedOrigins: [server.origin], timeoutMs: 300,
      retry: { maxRetries: 1 }, sleep: async (ms) => void sleeps.push(ms),
    });
    server.script({ hang: true }, { hang: true });
    const err = await rejection(http.send(get()));
    assert.equal(err.code, 'CARA_TIMEOUT');
    assert.equal(server.requests.length, 2);
    server.script({ hang: true });
    server.requests.length = 0;
    const post = await rejection(http.send({ method: 'POST', url: new URL('/fhir/p1', server.origin), body: '{}', idempotent: false, timeoutMs: 200 }));
    assert.equal(post.code, 'CARA_TIMEOUT');
    assert.equal(server.requests.length, 1);
  });

  it('never sends the token to another origin', async () => {
    const err = await rejection(http.send({ method: 'GET', url: new URL('/fhir/p1/Patient/1', foreign.origin), idempotent: true }));
    assert.equal(err.code, 'CARA_UNSAFE_LINK');
    assert.equal(foreign.requests.length, 0);
    assert.deepEqual(tokens.issued, []);
    // the same host on another scheme is another origin too
    const plain = new URL(server.origin);
    plain.protocol = 'http:';
    assert.equal((await rejection(http.send({ method: 'GET', url: plain, idempotent: true }))).code, 'CARA_UNSAFE_LINK');
  });

  it('shows the start of a plain-text error body, without the token', async () => {
    // No "Bearer" before it: only the exact-value scrub can catch it.
    server.script({ status: 500, body: 'upstream rejected test-token-1 for this path' });
    http = new AuthorizedHttp({ dispatcher: agent, tokens, allowedOrigins: [server.origin], timeoutMs: 2_000, retry: { maxRetries: 0 } });
    const err = await rejection(http.send(get()));
    assert.equal(err.code, 'CARA_HTTP');
    assert.equal(err.statusCode, 500);
    assert.equal(err.outcome, undefined);
    assert.match(err.message, /500 Internal Server Error: upstream rejected \[REDACTED\] for this path/);
    assert.doesNotMatch(err.message, /test-token-1/);
  });

  it('scrubs the token and other secrets from a JSON error body, in the message and in err.outcome', async () => {
    server.script({
      status: 400,
      body: {
        message: 'Bearer test-token-1 was refused (passphrase Secret-Pass-99)',
        request: { headers: { authorization: 'Bearer test-token-1', Accept: 'application/json' }, seen: ['test-token-1', 42, null] },
      },
    });
    http = new AuthorizedHttp({
      dispatcher: agent, tokens, allowedOrigins: [server.origin], timeoutMs: 2_000,
      redact: (text) => text.split('Secret-Pass-99').join('[PASSPHRASE]'),
    });
    const err = await rejection(http.send(get()));
    assert.equal(err.statusCode, 400);
    assert.match(err.message, /400 Bad Request: Bearer \[REDACTED\] was refused \(passphrase \[PASSPHRASE\]\)/);
    assert.deepEqual(err.outcome, {
      message: 'Bearer [REDACTED] was refused (passphrase [PASSPHRASE])',
      request: { headers: { authorization: '[REDACTED]', Accept: 'application/json' }, seen: ['[REDACTED]', 42, null] },
    });
    assert.doesNotMatch(`${err.message} ${JSON.stringify(err.outcome)}`, /test-token-1|Secret-Pass-99/);
  });

  it('close() (the client-wide signal) ends a request waiting out a Retry-After: CARA_CLOSED at once, and the wait keeps nothing alive', async () => {
    const refTimers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const lifetime = new AbortController();
    let waiting!: (ms: number) => void;
    let timersAdded = -1;
    const waitStarted = new Promise<number>((resolve) => (waiting = resolve));
    http = new AuthorizedHttp({
      dispatcher: agent, tokens, allowedOrigins: [server.origin], timeoutMs: 2_000, signal: lifetime.signal,
      // The real wait, observed: does it add a timer that keeps the process alive?
      sleep: (ms, signal) => {
        const before = refTimers();
        const wait = defaultSleep(ms, signal);
        timersAdded = refTimers() - before;
        waiting(ms);
        return wait;
      },
    });
    server.script({ status: 429, headers: { 'retry-after': '30' } });
    const pending = http.send(get());
    pending.catch(() => undefined);
    assert.equal(await waitStarted, 30_000);
    assert.equal(timersAdded, 0, 'the retry wait does not keep the process alive');
    lifetime.abort();
    let guard: NodeJS.Timeout | undefined;
    const stillWaiting = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error('the request still waits after close()')), 2_000);
    });
    const err = await rejection(Promise.race([pending, stillWaiting]));
    clearTimeout(guard);
    assert.equal(err.code, 'CARA_CLOSED');
    assert.match(err.message, /closed/);
    assert.equal(server.requests.length, 1, 'not sent again');
    // and nothing more is sent through a closed client
    assert.equal((await rejection(http.send(get()))).code, 'CARA_CLOSED');
    assert.equal(server.requests.length, 1);
  });
});

describe('retry timing', () => {
  it('reads Retry-After in seconds and as a date, ignores garbage', () => {
    assert.equal(retryAfterMs('2', 30_000), 2_000);
    assert.equal(retryAfterMs('120', 30_000), 30_000);
    assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', 30_000, Date.parse('Wed, 21 Oct 2015 07:27:50 GMT')), 10_000);
    assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', 30_000, Date.parse('Wed, 21 Oct 2015 07:29:00 GMT')), 0);
    assert.equal(retryAfterMs('soon', 30_000), undefined);
    assert.equal(retryAfterMs('-1', 30_000), undefined);
    assert.equal(retryAfterMs(undefined, 30_000), undefined);
  });

  it('backs off exponentially with jitter within the cap', () => {
    const policy = retryPolicy({ baseDelayMs: 100, maxDelayMs: 1_000 });
    assert.equal(backoffDelayMs(policy, 0, () => 0), 50);
    assert.equal(backoffDelayMs(policy, 0, () => 1), 100);
    assert.equal(backoffDelayMs(policy, 3, () => 1), 800);
    assert.equal(backoffDelayMs(policy, 10, () => 1), 1_000);
    assert.deepEqual(retryPolicy({ maxRetries: -1 }), { maxRetries: 3, baseDelayMs: 200, maxDelayMs: 30_000 });
  });
});
