/**
 * The local CARA sandbox: IAM, AIM and FHIR Vault on localhost, each over mutual TLS with a
 * throw-away PKI, seeded with demo patients. A development tool: nothing in src/ or nodes/
 * imports it.
 */
import { join } from 'node:path';
import { loadOrCreatePki, type Pki, type PkiFiles } from './pki';
import { startIam, type IamClientRegistration, type RunningIam } from './iam';
import { startAim, type RunningAim } from './aim';
import { startVault, type RunningVault } from './vault';
import { FaultInjector, type FaultSettings } from './faults';
import { seedPatients, seedVault } from './seed';

export const SANDBOX_PORTS = { iam: 8443, aim: 8444, fhir: 8445 } as const;

/** Demo technical users, shaped like CARA's: one with a '/' in its id. */
export const SANDBOX_CLIENTS: IamClientRegistration[] = [
  {
    clientId: 'tcu-bestclinic/scp-importer',
    certificateCommonName: 'tcu-bestclinic-scp-importer',
    scopes: ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'],
    accountUrn: 'urn:cara:account:bestclinic/scp-importer',
    orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178',
    eidUrn: 'urn:cara:eid:tcu-bestclinic-scp-importer',
  },
  {
    clientId: 'bestclinic-reader',
    certificateCommonName: 'bestclinic-reader',
    scopes: ['ns:cara:authx.Reader', 'ns:cara:scp.Reader'],
    accountUrn: 'urn:cara:account:bestclinic/reader',
    orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178',
    eidUrn: 'urn:cara:eid:bestclinic-reader',
  },
];

export interface SandboxOptions {
  /** Where the PKI is kept between runs (default `.sandbox` in the working directory). */
  dir?: string;
  /** Ports; 0 = random (tests). Defaults: IAM 8443, AIM 8444, FHIR 8445. */
  ports?: Partial<Record<keyof typeof SANDBOX_PORTS, number>>;
  faults?: FaultSettings;
  accessTokenTtlSeconds?: number;
}

export interface RunningSandbox {
  pki: Pki;
  files: PkiFiles;
  iam: RunningIam;
  aim: RunningAim;
  vault: RunningVault;
  faults: FaultInjector;
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const dir = options.dir ?? join(process.cwd(), '.sandbox');
  const ports = { ...SANDBOX_PORTS, ...options.ports };
  const { pki, files } = await loadOrCreatePki(join(dir, 'pki'), SANDBOX_CLIENTS.map((c) => c.certificateCommonName));
  const faults = new FaultInjector(options.faults);
  const iam = await startIam({ pki, clients: SANDBOX_CLIENTS, port: ports.iam, accessTokenTtlSeconds: options.accessTokenTtlSeconds });
  const patients = Object.fromEntries(seedPatients.map((p) => [p.mpiIdUrn, p.accountUrn]));
  const aim = await startAim({ pki, iam, patients, port: ports.aim, faults });
  const vault = await startVault({ pki, iam, port: ports.fhir, faults, partitions: seedPatients.map((p) => p.partition) });
  await seedVault(vault);
  return {
    pki,
    files,
    iam,
    aim,
    vault,
    faults,
    async stop() {
      await Promise.allSettled([vault.stop(), aim.stop(), iam.stop()]);
    },
  };
}
