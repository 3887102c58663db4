/**
 * The whole platform for the resolve-account / fhir node tests: the IAM of node-red.ts plus
 * the sandbox AIM and FHIR Vault (seeded with the demo patients and the Shared Care Plan), all
 * on the same throw-away PKI over real mTLS, and a cara-config pointing at the three of them.
 */
import { startAim, type RunningAim } from '../../sandbox/aim';
import { seedPatients, seedVault, scpPatient, type SeedPatient } from '../../sandbox/seed';
import { startVault, type RecordedRequest, type RunningVault } from '../../sandbox/vault';
import { createRequire } from 'node:module';
import {
  caraConfig,
  caraNodes,
  helper,
  startPlatform,
  tlsConfigNode,
  type ConfigNodeSetup,
  type ConfigOptions,
  type FlowNode,
  type NodeModule,
  type Platform,
} from './node-red';

const load = createRequire(__filename);

/** Core node modules the test helper does not preload (it knows catch, status, complete only). */
const CORE_MODULES: Record<string, string> = {
  join: '@node-red/nodes/core/sequence/17-split.js',
  split: '@node-red/nodes/core/sequence/17-split.js',
  function: '@node-red/nodes/core/function/10-function.js',
  change: '@node-red/nodes/core/function/15-change.js',
};

export interface VaultPlatform extends Platform {
  aim: RunningAim;
  vault: RunningVault;
  patients: SeedPatient[];
  scpPatient: SeedPatient;
  /** Vault requests received since the last call (and forgets them). */
  takeVaultRequests(): RecordedRequest[];
}

export async function startVaultPlatform(): Promise<VaultPlatform> {
  const platform = await startPlatform();
  const { pki, iam } = platform;
  const aim = await startAim({ pki, iam, patients: Object.fromEntries(seedPatients.map((p) => [p.mpiIdUrn, p.accountUrn])) });
  const vault = await startVault({ pki, iam, partitions: seedPatients.map((p) => p.partition) });
  await seedVault(vault);
  return {
    ...platform,
    aim,
    vault,
    patients: seedPatients,
    scpPatient,
    takeVaultRequests: () => vault.requests.splice(0, vault.requests.length),
    async stop() {
      await Promise.allSettled([vault.stop(), aim.stop()]);
      await platform.stop();
    },
  };
}

/** A cara-config for the test importer (authx.Reader + scp.Contributor) pointing at IAM, AIM and the vault. */
export function vaultConfig(platform: VaultPlatform, options: ConfigOptions = {}): ConfigNodeSetup {
  return caraConfig(platform, {
    ...options,
    settings: { aimUrl: platform.aim.origin, fhirBaseUrl: platform.vault.base, ...options.settings },
  });
}

/**
 * loadFlow of node-red.ts, plus the core join/split/function/change nodes when the flow uses them.
 * Nodes with wires get a position, as an editor export has: Node-RED takes a node without x/y for
 * a config node, and then reads any setting equal to a node id (e.g. interaction 'batch' next to
 * a node 'batch') as a dependency on it.
 */
export async function loadFlowWithCore(input: FlowNode[], credentials: Record<string, object> = {}): Promise<void> {
  const flow = input.map((n) => (Array.isArray(n.wires) && n.x === undefined ? { x: 100, y: 100, ...n } : n));
  const types = [...new Set(flow.map((n) => n.type))];
  const cara = types.filter((type) => type.startsWith('cara-'));
  if (!cara.includes('cara-config')) cara.unshift('cara-config');
  const core = [...new Set(types.filter((type) => type in CORE_MODULES).map((type) => CORE_MODULES[type]))].map(
    (path) => load(load.resolve(path)) as NodeModule,
  );
  await helper.load([...caraNodes(...cara), tlsConfigNode(), ...core], flow, credentials);
}
