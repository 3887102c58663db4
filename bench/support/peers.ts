/**
 * Starts peers-process.ts in a child process and talks to it: the servers' addresses and
 * certificates, their request counters, and a bearer token for the baselines.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { PeerCounters, PeerInfo, PeerMessage, PeerOptions, PeerReply, PeerRequest } from './peers-process';

export type { PeerCounters, PeerInfo } from './peers-process';

export interface Peers extends PeerInfo {
  counters(): Promise<PeerCounters>;
  /** Zeroes the counters (and drops what AIM recorded). */
  reset(): Promise<void>;
  /** An mTLS keep-alive Agent with the client certificate, as cara-config builds one. */
  agent(): Agent;
  /** One real access token from the 300 s IAM, for the baselines' fixed bearer header. */
  fetchToken(): Promise<string>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

export async function startPeers(options: PeerOptions): Promise<Peers> {
  // process.execArgv carries tsx's loader, so the child runs TypeScript like the parent.
  const child: ChildProcess = fork(join(__dirname, 'peers-process.ts'), [JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8_000);
  });

  const info = await new Promise<PeerInfo>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the peers did not start within ${START_TIMEOUT_MS / 1000} s\n${stderr}`)), START_TIMEOUT_MS);
    child.on('message', function onMessage(message: PeerMessage) {
      if ('ready' in message) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(message.ready);
      } else if ('failed' in message) {
        clearTimeout(timer);
        reject(new Error(`the peers failed to start: ${message.failed}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the peers process exited (${code}) before it was ready\n${stderr}`));
    });
  });

  let nextId = 1;
  const waiting = new Map<number, (reply: PeerReply) => void>();
  child.on('message', (message: PeerMessage) => {
    if ('id' in message) {
      waiting.get(message.id)?.(message);
      waiting.delete(message.id);
    }
  });
  const call = (name: PeerRequest['call']): Promise<PeerReply> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply)));
      child.send({ id, call: name } satisfies PeerRequest);
    });

  const agents: Agent[] = [];
  const agent = (): Agent => {
    const created = new Agent({
      connect: { ca: info.caPem, cert: info.certPem, key: info.keyPem, minVersion: 'TLSv1.2' },
      keepAliveTimeout: 30_000,
      pipelining: 1,
    });
    agents.push(created);
    return created;
  };

  return {
    ...info,
    counters: async () => (await call('counters')).counters as PeerCounters,
    reset: async () => void (await call('reset')),
    agent,
    async fetchToken() {
      const dispatcher = agent();
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: info.clientId, scope: info.scope });
      const res = await request(info.tokenEndpoint, {
        dispatcher,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      const body = (await res.body.json()) as { access_token?: string };
      await dispatcher.close();
      if (res.statusCode !== 200 || typeof body.access_token !== 'string') throw new Error(`the bench token request answered ${res.statusCode}`);
      return body.access_token;
    },
    async stop() {
      await Promise.allSettled(agents.map((a) => a.close()));
      if (child.connected) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        await call('stop').catch(() => undefined);
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
      }
      if (child.exitCode === null) child.kill();
    },
  };
}
