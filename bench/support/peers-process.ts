/**
 * The peers the benchmark talks to, in a child process of their own so that their CPU time
 * is not charged to the client stack being measured (on 2 cores, client and servers each get
 * about one):
 *
 * - two sandbox IAMs (oidc-provider over mTLS): tokens of 300 s, and short-lived ones for
 *   the renewal case;
 * - the sandbox AIM with `patients` MPI-IDs;
 * - a minimal FHIR server over mTLS (client certificate required and verified against the
 *   sandbox CA, bearer token required) answering a fixed 1 KB Patient, and a 10,000-resource
 *   search in pages whose `next` links point at HAPI's internal base.
 *
 * Started by peers.ts with fork(); talks over the IPC channel (PeerRequest / PeerReply).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createPki } from '../../sandbox/pki';
import { startIam, type IamClientRegistration } from '../../sandbox/iam';
import { startAim } from '../../sandbox/aim';
import { startMtlsServer } from '../../sandbox/https-server';
import { PARTITION, PATIENT_ID, patientJson, searchPages } from './fixtures';

export interface PeerOptions {
  shortTokenTtlSeconds: number;
  patients: number;
  searchTotal: number;
  pageSize: number;
}

export interface PeerInfo {
  caPem: string;
  certPem: string;
  keyPem: string;
  clientId: string;
  scope: string;
  /** Tokens of 300 s. */
  issuer: string;
  tokenEndpoint: string;
  /** Tokens of `shortTokenTtlSeconds`. */
  shortIssuer: string;
  aimOrigin: string;
  /** https://localhost:<port>/fhir */
  fhirBase: string;
  readPath: string;
  searchPath: string;
  mpiIds: string[];
  searchBytes: number;
}

export interface PeerCounters {
  tokenRequests: number;
  shortTokenRequests: number;
  aimRequests: number;
  fhirRequests: number;
  /** TLS connections the FHIR server accepted (a keep-alive client opens few). */
  fhirConnections: number;
}

export type PeerRequest = { id: number; call: 'counters' | 'reset' | 'stop' };
export type PeerReply = { id: number; counters?: PeerCounters; error?: string };
export type PeerMessage = { ready: PeerInfo } | { failed: string } | PeerReply;

const CLIENT: IamClientRegistration = {
  clientId: 'tcu-bench/reader',
  certificateCommonName: 'tcu-bench-reader',
  scopes: ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'],
  accountUrn: 'urn:cara:account:bench/reader',
  orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178',
};
const MPI_ROOT = '2.16.756.5.30.1.191.1.0.2.1';

function send(message: PeerMessage): void {
  process.send?.(message);
}

async function main(options: PeerOptions): Promise<void> {
  const pki = createPki();
  const identity = pki.client(CLIENT.certificateCommonName);
  const iam = await startIam({ pki, clients: [CLIENT] });
  const shortIam = await startIam({ pki, clients: [CLIENT], accessTokenTtlSeconds: options.shortTokenTtlSeconds });

  const mpiIds = Array.from({ length: options.patients }, (_, i) => `urn:cara:mpi_id:${MPI_ROOT}/bench-${String(i).padStart(4, '0')}`);
  const aim = await startAim({
    pki,
    iam,
    patients: Object.fromEntries(mpiIds.map((id, i) => [id, `urn:cara:account:bench-account-${String(i).padStart(4, '0')}`])),
  });

  const patient = Buffer.from(patientJson(1024));
  const search = searchPages(options.searchTotal, options.pageSize);
  const readPath = `/fhir/${PARTITION}/Patient/${PATIENT_ID}`;
  const searchPath = `/fhir/${PARTITION}/Observation`;
  const pagesPath = `/fhir/${PARTITION}`;
  let fhirRequests = 0;

  const reply = (res: ServerResponse, status: number, body: Buffer | string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/fhir+json;charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...extra });
    res.end(body);
  };
  const fhir = await startMtlsServer(pki, async (req: IncomingMessage, res: ServerResponse) => {
    fhirRequests += 1;
    // The TLS layer already refused peers without a certificate from the sandbox CA.
    if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
      reply(res, 401, '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}', { 'www-authenticate': 'Bearer realm="cara"' });
      return;
    }
    const url = req.url ?? '/';
    const question = url.indexOf('?');
    const path = question < 0 ? url : url.slice(0, question);
    if (req.method === 'GET' && path === readPath) {
      reply(res, 200, patient, { etag: 'W/"1"', 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT' });
      return;
    }
    if (req.method === 'GET' && (path === searchPath || path === pagesPath)) {
      const offset = path === searchPath ? 0 : Number(new URLSearchParams(url.slice(question + 1)).get('_getpagesoffset'));
      const page = search.pages.get(offset);
      if (page) {
        reply(res, 200, page);
        return;
      }
    }
    reply(res, 404, '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');
  });

  // Idle connections stay open for a minute (as behind a typical reverse proxy), so that a
  // variant waiting for its turn does not find its pool closed; new connections are measured apart.
  fhir.server.keepAliveTimeout = 60_000;
  let fhirConnections = 0;
  fhir.server.on('secureConnection', () => {
    fhirConnections += 1;
  });

  const counters = (): PeerCounters => ({
    tokenRequests: iam.tokenRequestCount,
    shortTokenRequests: shortIam.tokenRequestCount,
    aimRequests: aim.requestCount,
    fhirRequests,
    fhirConnections,
  });

  process.on('message', (request: PeerRequest) => {
    const answer = async (): Promise<PeerReply> => {
      switch (request.call) {
        case 'counters':
          return { id: request.id, counters: counters() };
        case 'reset':
          iam.resetCounters();
          shortIam.resetCounters();
          aim.requests.length = 0; // AIM records every request: keep the child small
          fhirRequests = 0;
          fhirConnections = 0;
          return { id: request.id, counters: counters() };
        case 'stop':
          await Promise.allSettled([fhir.stop(), aim.stop(), iam.stop(), shortIam.stop()]);
          return { id: request.id };
      }
    };
    answer()
      .then(send, (err: unknown) => send({ id: request.id, error: String(err) }))
      .finally(() => {
        if (request.call === 'stop') process.disconnect?.();
      });
  });

  send({
    ready: {
      caPem: pki.ca.certPem,
      certPem: identity.certPem,
      keyPem: identity.keyPem,
      clientId: CLIENT.clientId,
      scope: CLIENT.scopes.join(' '),
      issuer: iam.issuer,
      tokenEndpoint: iam.tokenEndpoint,
      shortIssuer: shortIam.issuer,
      aimOrigin: aim.origin,
      fhirBase: `${fhir.origin}/fhir`,
      readPath,
      searchPath,
      mpiIds,
      searchBytes: search.bytes,
    },
  });
}

const options = JSON.parse(process.argv[2] ?? '{}') as PeerOptions;
main(options).catch((err: unknown) => {
  send({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
});
// The parent going away (Ctrl-C, crash) ends the peers too.
process.on('disconnect', () => process.exit());
