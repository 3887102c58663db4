/**
 * The FHIR Vault of the local CARA sandbox: HAPI FHIR JPA with URL partitioning, emulated on
 * the real Medplum FHIR engine (FhirRouter + one repository per partition), behind mTLS and
 * bearer tokens from the sandbox IAM. See vault-http.ts for the request pipeline, vault-routes.ts
 * for the interactions, vault-pages.ts for paging and links, vault-access.ts for scopes.
 */
import { FaultInjector } from './faults';
import { startMtlsServer, type RecordedRequest, type TokenIssuer } from './https-server';
import type { Pki } from './pki';
import { PARTITION_NAME_RULE } from './vault-access';
import { loadFhirDefinitions } from './vault-definitions';
import { vaultHandler } from './vault-http';
import { PageStore } from './vault-pages';
import { VaultRepository } from './vault-repository';
import { createVaultRouter } from './vault-routes';

export type { RecordedRequest } from './https-server';
export { NAMESPACE_TAG_SYSTEM, PARTITION_NAME_RULE } from './vault-access';
export { VaultRepository } from './vault-repository';

export const DEFAULT_INTERNAL_BASE = 'http://localhost:9051/fhir';

export interface VaultOptions {
  pki: Pki;
  iam: TokenIssuer;
  port?: number;
  /** The base HAPI believes it has and leaks in links; default `http://localhost:9051/fhir`. */
  internalBase?: string;
  faults?: FaultInjector;
  /** Pre-created partitions; others are created on first write (a read of an unknown one is 404). */
  partitions?: string[];
}

export interface RunningVault {
  port: number;
  /** `https://localhost:<port>` */
  origin: string;
  /** `origin + '/fhir'` */
  base: string;
  /** Every request received, in order, before faults apply. */
  requests: RecordedRequest[];
  faults: FaultInjector;
  /** The partition's repository (created if absent), for fast test setup and assertions. */
  repository(partition: string): VaultRepository;
  /** The partitions that exist. */
  partitions(): string[];
  stop(): Promise<void>;
}

export async function startVault(options: VaultOptions): Promise<RunningVault> {
  loadFhirDefinitions();
  const internalBase = (options.internalBase ?? DEFAULT_INTERNAL_BASE).replace(/\/+$/, '');
  const repositories = new Map<string, VaultRepository>();
  const partition = (name: string, create: boolean): VaultRepository | undefined => {
    let repo = repositories.get(name);
    if (!repo && create) {
      if (!PARTITION_NAME_RULE.test(name)) throw new Error(`Invalid partition name "${name}": expected [A-Za-z0-9_-]{1,200}`);
      repo = new VaultRepository(name);
      repositories.set(name, repo);
    }
    return repo;
  };
  for (const name of options.partitions ?? []) partition(name, true);

  const faults = options.faults ?? new FaultInjector();
  const requests: RecordedRequest[] = [];
  const router = createVaultRouter({ internalBase, pages: new PageStore() });
  const server = await startMtlsServer(
    options.pki,
    vaultHandler({ iam: options.iam, internalBase, router, partition, requests, faults, startedAt: new Date().toISOString() }),
    options.port,
  );
  return {
    port: server.port,
    origin: server.origin,
    base: `${server.origin}/fhir`,
    requests,
    faults,
    repository: (name) => partition(name, true) as VaultRepository,
    partitions: () => [...repositories.keys()],
    stop: async () => {
      faults.releaseDelays();
      await server.stop();
    },
  };
}
