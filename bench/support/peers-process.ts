/**
 * The identity peers of the benchmark, in a child process of their own so that their CPU time
 * is not charged to the client stack being measured:
 *
 * - two sandbox IAMs (oidc-provider over mTLS): tokens of 300 s, and short-lived ones for
 *   the renewal case;
 * - the sandbox AIM with `patients` MPI-IDs (it verifies tokens with the IAM's in-process
 *   keys, so it stays with the IAMs).
 *
 * The FHIR server runs in a third process (fhir-process.ts), as on CARA, where the IAM and the
 * FHIR vault are separate hosts; this process hands peers.ts the TLS material it needs.
 *
 * Forked by peers.ts; gets its options over IPC (IamSetup), then answers child-ipc requests.
 */
import { createPki } from '../../sandbox/pki';
import { startIam, type IamClientRegistration } from '../../sandbox/iam';
import { startAim } from '../../sandbox/aim';
import { receiveSetup, send, serve } from './child-ipc';

export interface IamSetup {
  shortTokenTtlSeconds: number;
  patients: number;
}

export interface IamInfo {
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
  mpiIds: string[];
  /** For the FHIR process only (the sandbox's localhost server certificate and key). */
  serverTls: { certPem: string; keyPem: string };
}

export interface IamCounters {
  tokenRequests: number;
  shortTokenRequests: number;
  aimRequests: number;
}

const CLIENT: IamClientRegistration = {
  clientId: 'tcu-bench/reader',
  certificateCommonName: 'tcu-bench-reader',
  scopes: ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'],
  accountUrn: 'urn:cara:account:bench/reader',
  orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178',
};
const MPI_ROOT = '2.16.756.5.30.1.191.1.0.2.1';

async function main(options: IamSetup): Promise<void> {
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

  serve<IamCounters>({
    counters: () => ({ tokenRequests: iam.tokenRequestCount, shortTokenRequests: shortIam.tokenRequestCount, aimRequests: aim.requestCount }),
    reset: () => {
      iam.resetCounters();
      shortIam.resetCounters();
      aim.requests.length = 0; // AIM records every request: keep the child small
    },
    stop: async () => {
      await Promise.allSettled([aim.stop(), iam.stop(), shortIam.stop()]);
    },
  });
  send<IamInfo, IamCounters>({
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
      mpiIds,
      serverTls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem },
    },
  });
}

receiveSetup<IamSetup>()
  .then(main)
  .catch((err: unknown) => {
    send({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
  });
// Until serve() takes over: the parent going away ends this process too.
process.on('disconnect', () => process.exit());
