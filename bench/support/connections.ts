/**
 * What one new mTLS connection costs the client: the first request on a fresh Agent (TLS
 * handshake included), for the baseline's Agent and for the one the library builds
 * (src/tls.ts), and the synchronous part of it: building the TLS secure context, which
 * tls.connect does again for every connection when given `ca`/`cert`/`key` options.
 */
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { request, type Agent } from 'undici';
import { createAgent, loadClientTls } from '../../src/tls';
import { PARTITION, PATIENT_ID } from './fixtures';
import type { Peers } from './peers';
import { summarize, type Summary } from './stats';

export interface ConnectionCost {
  firstRequestMs: { raw: Summary; cara: Summary };
  secureContextMs: { raw: Summary; cara: Summary };
  /** How many CA certificates each context parses. */
  caCount: { raw: number; cara: number };
}

function timeContext(options: SecureContextOptions): number {
  const start = performance.now();
  createSecureContext(options);
  return performance.now() - start;
}

function caCount(ca: SecureContextOptions['ca']): number {
  if (ca === undefined) return 0;
  return [ca].flat().reduce<number>((n, pem) => n + (String(pem).match(/BEGIN CERTIFICATE/g)?.length ?? 0), 0);
}

export async function measureConnectionCost(peers: Peers, bearer: string, samples: number): Promise<ConnectionCost> {
  const tls = await loadClientTls({ certificate: { type: 'pem', cert: peers.certPem, key: peers.keyPem }, extraCa: [peers.caPem] });
  const rawOptions: SecureContextOptions = { ca: peers.caPem, cert: peers.certPem, key: peers.keyPem, minVersion: 'TLSv1.2' };
  const url = `${peers.fhirBase}/${PARTITION}/Patient/${PATIENT_ID}`;
  const first = async (agent: Agent): Promise<number> => {
    const start = performance.now();
    const res = await request(url, { dispatcher: agent, headers: { authorization: `Bearer ${bearer}` } });
    await res.body.dump();
    const ms = performance.now() - start;
    await agent.close();
    return ms;
  };
  const times = { raw: [] as number[], cara: [] as number[] };
  const contexts = { raw: [] as number[], cara: [] as number[] };
  for (let i = 0; i < samples; i += 1) {
    times.raw.push(await first(peers.agent()));
    times.cara.push(await first(createAgent(tls, { connectTimeoutMs: 10_000 })));
    contexts.raw.push(timeContext(rawOptions));
    contexts.cara.push(timeContext(tls.connectOptions));
  }
  return {
    firstRequestMs: { raw: summarize(times.raw), cara: summarize(times.cara) },
    secureContextMs: { raw: summarize(contexts.raw), cara: summarize(contexts.cara) },
    caCount: { raw: caCount(rawOptions.ca), cara: caCount(tls.connectOptions.ca) },
  };
}
