/**
 * Starts the benchmark's peers in two child processes and talks to them:
 * peers-process.ts (the two IAMs and the AIM) and fhir-process.ts (the FHIR server, given the
 * sandbox CA and server certificate the first one made). Gives the cases the servers'
 * addresses and certificates, their request counters, their event-loop lag, and a bearer
 * token for the baselines.
 */
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { ChildPeer } from './child-ipc';
import type { FhirCounters, FhirInfo, FhirSetup } from './fhir-process';
import type { LagTrace } from './lag';
import type { IamCounters, IamInfo, IamSetup } from './peers-process';

export interface PeerOptions extends IamSetup {
  searchTotal: number;
  pageSize: number;
}

export type PeerInfo = Omit<IamInfo, 'serverTls'> & FhirInfo;
export type PeerCounters = IamCounters & FhirCounters;

/** Event-loop lag of each peer process (epoch-ms times, see lag.ts). */
export interface PeerLag {
  iam: LagTrace;
  fhir: LagTrace;
}

export interface Peers extends PeerInfo {
  counters(): Promise<PeerCounters>;
  /** Zeroes the counters (and drops what AIM recorded). */
  reset(): Promise<void>;
  /** Starts recording the peers' event-loop lag (1 ms timer in each process). */
  startLag(): Promise<void>;
  stopLag(): Promise<PeerLag>;
  /** An mTLS keep-alive Agent with the client certificate, as cara-config builds one. */
  agent(): Agent;
  /** One real access token from the 300 s IAM, for the baselines' fixed bearer header. */
  fetchToken(): Promise<string>;
  /** Stops both processes. */
  stop(): Promise<void>;
}

export async function startPeers(options: PeerOptions): Promise<Peers> {
  const iam = await ChildPeer.start<IamSetup, IamInfo, IamCounters>('identity peers (IAM, AIM)', join(__dirname, 'peers-process.ts'), {
    shortTokenTtlSeconds: options.shortTokenTtlSeconds,
    patients: options.patients,
  });
  const { serverTls, ...iamInfo } = iam.info;
  let fhir: ChildPeer<FhirInfo, FhirCounters>;
  try {
    fhir = await ChildPeer.start<FhirSetup, FhirInfo, FhirCounters>('FHIR server', join(__dirname, 'fhir-process.ts'), {
      caPem: iamInfo.caPem,
      serverCertPem: serverTls.certPem,
      serverKeyPem: serverTls.keyPem,
      searchTotal: options.searchTotal,
      pageSize: options.pageSize,
    });
  } catch (err) {
    await iam.stop();
    throw err;
  }
  const info: PeerInfo = { ...iamInfo, ...fhir.info };

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
  const both = <T>(call: Parameters<typeof iam.call>[0], pick: (iamReply: Awaited<ReturnType<typeof iam.call>>, fhirReply: Awaited<ReturnType<typeof fhir.call>>) => T): Promise<T> =>
    Promise.all([iam.call(call), fhir.call(call)]).then(([a, b]) => pick(a, b));

  return {
    ...info,
    counters: () => both('counters', (a, b) => ({ ...(a.counters as IamCounters), ...(b.counters as FhirCounters) })),
    reset: () => both('reset', () => undefined),
    startLag: () => both('lagStart', () => undefined),
    stopLag: () => both('lagStop', (a, b) => ({ iam: a.lag ?? { times: [], lags: [] }, fhir: b.lag ?? { times: [], lags: [] } })),
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
      await Promise.allSettled([fhir.stop(), iam.stop()]);
    },
  };
}
