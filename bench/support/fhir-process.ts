/**
 * The minimal FHIR server of the benchmark, in a process of its own (on CARA the FHIR vault
 * and the IAM are separate hosts: a token request's RS256 signing and handshake must not
 * delay FHIR answers). HTTPS with the client certificate required and verified against the
 * sandbox CA, a bearer token required, answering a fixed 1 KB Patient, and a 10,000-resource
 * search in pages whose `next` links point at HAPI's internal base.
 *
 * Forked by peers.ts; gets its TLS material and fixture options over IPC (FhirSetup).
 */
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { receiveSetup, send, serve } from './child-ipc';
import { PARTITION, PATIENT_ID, patientJson, searchPages } from './fixtures';

export interface FhirSetup {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  searchTotal: number;
  pageSize: number;
}

export interface FhirInfo {
  /** https://localhost:<port>/fhir */
  fhirBase: string;
  readPath: string;
  searchPath: string;
  searchBytes: number;
}

export interface FhirCounters {
  fhirRequests: number;
  /** TLS connections the FHIR server accepted (a keep-alive client opens few). */
  fhirConnections: number;
}

const NOT_FOUND = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}';
const LOGIN = '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}';

async function main(setup: FhirSetup): Promise<void> {
  const patient = Buffer.from(patientJson(1024));
  const search = searchPages(setup.searchTotal, setup.pageSize);
  const readPath = `/fhir/${PARTITION}/Patient/${PATIENT_ID}`;
  const searchPath = `/fhir/${PARTITION}/Observation`;
  const pagesPath = `/fhir/${PARTITION}`;
  let fhirRequests = 0;
  let fhirConnections = 0;

  const reply = (res: ServerResponse, status: number, body: Buffer | string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/fhir+json;charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...extra });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    fhirRequests += 1;
    // The TLS layer already refused peers without a certificate from the sandbox CA.
    if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
      reply(res, 401, LOGIN, { 'www-authenticate': 'Bearer realm="cara"' });
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
    reply(res, 404, NOT_FOUND);
  };

  const server = createServer(
    { cert: setup.serverCertPem, key: setup.serverKeyPem, ca: setup.caPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    handle,
  );
  // Idle connections stay open for a minute (as behind a typical reverse proxy), so that a
  // variant waiting for its turn does not find its pool closed; new connections are measured apart.
  server.keepAliveTimeout = 60_000;
  server.on('secureConnection', () => {
    fhirConnections += 1;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  serve<FhirCounters>({
    counters: () => ({ fhirRequests, fhirConnections }),
    reset: () => {
      fhirRequests = 0;
      fhirConnections = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
  const port = (server.address() as AddressInfo).port;
  send<FhirInfo, FhirCounters>({ ready: { fhirBase: `https://localhost:${port}/fhir`, readPath, searchPath, searchBytes: search.bytes } });
}

receiveSetup<FhirSetup>()
  .then(main)
  .catch((err: unknown) => {
    send({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
  });
// Until serve() takes over: the parent going away ends this process too.
process.on('disconnect', () => process.exit());
