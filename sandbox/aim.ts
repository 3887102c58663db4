/**
 * AIM ("authx") of the local CARA sandbox: resolves a patient's MPI-ID URN to the Account URN
 * of their vault, over mTLS with a bearer token from the sandbox IAM.
 *
 *   POST /api/v1/query/get-account-urn-from-mpi-id-urn   {"mpiIdUrn": "urn:cara:mpi_id:<oid>/<ext>"}
 *   200 {"accountUrn": "..."} | 400 malformed | 401 no/bad token | 403 no authx scope | 404 unknown
 *
 * The guide documents no error bodies; they are shaped like Spring Boot's default errors
 * (timestamp, status, error, message, path), which is what a Java service answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultInjector } from './faults';
import { bearerChallenge, readBody, recordOf, sendJson, startMtlsServer, verifyBearer, type RecordedRequest, type TokenIssuer } from './https-server';
import type { Pki } from './pki';

export const AIM_RESOLVE_PATH = '/api/v1/query/get-account-urn-from-mpi-id-urn';
/** `urn:cara:mpi_id:<root OID>/<extension>` */
export const MPI_ID_URN_RULE = /^urn:cara:mpi_id:([0-2](?:\.(?:0|[1-9][0-9]*))+)\/([A-Za-z0-9._:-]{1,128})$/;
const AUTHX_SCOPES = ['ns:cara:authx.Reader', 'ns:cara:authx.Contributor'];

export interface AimOptions {
  pki: Pki;
  iam: TokenIssuer;
  /** mpiIdUrn -> accountUrn */
  patients: Record<string, string>;
  port?: number;
  faults?: FaultInjector;
}

export interface RunningAim {
  port: number;
  /** `https://localhost:<port>` */
  origin: string;
  readonly requestCount: number;
  /** Every request received, in order, before faults apply. */
  requests: RecordedRequest[];
  faults: FaultInjector;
  /** The live mpiIdUrn -> accountUrn table (tests may add or remove patients). */
  patients: Map<string, string>;
  stop(): Promise<void>;
}

export async function startAim(options: AimOptions): Promise<RunningAim> {
  const faults = options.faults ?? new FaultInjector();
  const requests: RecordedRequest[] = [];
  const patients = new Map(Object.entries(options.patients));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req);
    requests.push(recordOf(req, body));
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.url ?? '/';
    if (await faults.apply({ method, path }, res, (status) => ({ contentType: 'application/json', body: springError(status, `Injected fault: HTTP ${status}`, path) }))) return;

    const pathname = path.split('?')[0];
    if (pathname !== AIM_RESOLVE_PATH) return sendError(res, 404, `No endpoint ${pathname}`, pathname);
    if (method !== 'POST') return sendError(res, 405, `Method ${method} is not supported: use POST`, pathname, { Allow: 'POST' });

    const bearer = await verifyBearer(req.headers.authorization, options.iam);
    if (!bearer.ok) {
      const challenge = bearer.reason === 'missing' ? bearerChallenge() : bearerChallenge('invalid_token', bearer.description);
      return sendError(res, 401, bearer.description, pathname, { 'WWW-Authenticate': challenge });
    }
    if (!bearer.scopes.some((s) => AUTHX_SCOPES.includes(s))) {
      const reason = 'Resolving an account needs the scope ns:cara:authx.Reader (or ns:cara:authx.Contributor)';
      return sendError(res, 403, reason, pathname, { 'WWW-Authenticate': bearerChallenge('insufficient_scope', reason, 'ns:cara:authx.Reader') });
    }

    let mpiIdUrn: unknown;
    try {
      mpiIdUrn = (JSON.parse(body) as { mpiIdUrn?: unknown } | null)?.mpiIdUrn;
    } catch {
      return sendError(res, 400, 'The request body is not valid JSON: expected {"mpiIdUrn": "urn:cara:mpi_id:<oid>/<extension>"}', pathname);
    }
    if (typeof mpiIdUrn !== 'string' || !MPI_ID_URN_RULE.test(mpiIdUrn)) {
      return sendError(res, 400, 'mpiIdUrn is missing or malformed: expected urn:cara:mpi_id:<root OID>/<extension>', pathname);
    }
    const accountUrn = patients.get(mpiIdUrn);
    if (!accountUrn) return sendError(res, 404, `No account is known for ${mpiIdUrn}`, pathname);
    sendJson(res, 200, { accountUrn });
  };

  const server = await startMtlsServer(options.pki, handle, options.port);
  return {
    port: server.port,
    origin: server.origin,
    get requestCount() {
      return requests.length;
    },
    requests,
    faults,
    patients,
    stop: async () => {
      faults.releaseDelays();
      await server.stop();
    },
  };
}

function springError(status: number, message: string, path: string): Record<string, unknown> {
  const reasons: Record<number, string> = {
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
  };
  return { timestamp: new Date().toISOString(), status, error: reasons[status] ?? 'Error', message, path };
}

function sendError(res: ServerResponse, status: number, message: string, path: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, springError(status, message, path), headers);
}
