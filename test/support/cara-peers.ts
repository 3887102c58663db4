/**
 * The real peers the library tests talk to: the sandbox IAM (oidc-provider, mTLS), AIM and
 * the FHIR Vault (Medplum engine), one PKI, one mTLS Agent, a real TokenManager and an
 * AuthorizedHttp whose waits are recorded instead of slept.
 */
import type { Agent } from 'undici';
import { AuthorizedHttp } from '../../src/authorized';
import { TokenManager } from '../../src/token';
import { startAim, type RunningAim } from '../../sandbox/aim';
import { startIam, type RunningIam } from '../../sandbox/iam';
import { createPki, type Pki } from '../../sandbox/pki';
import { startVault, type RunningVault } from '../../sandbox/vault';
import { sandboxAgent } from './fault-server';

export const CLIENT_ID = 'tcu-test/library';
export const CLIENT_CN = 'tcu-test-library';
export const SCOPES = ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'];

export interface Peers {
  pki: Pki;
  iam: RunningIam;
  aim: RunningAim;
  vault: RunningVault;
  agent: Agent;
  tokens: TokenManager;
  http: AuthorizedHttp;
  /** Waits AuthorizedHttp asked for (not slept). */
  sleeps: number[];
  stop(): Promise<void>;
}

export async function startPeers(patients: Record<string, string> = {}, partitions: string[] = []): Promise<Peers> {
  const pki = createPki();
  const iam = await startIam({
    pki,
    clients: [{ clientId: CLIENT_ID, certificateCommonName: CLIENT_CN, scopes: SCOPES, accountUrn: 'urn:cara:account:tcu-test' }],
  });
  const aim = await startAim({ pki, iam, patients });
  const vault = await startVault({ pki, iam, partitions });
  const agent = await sandboxAgent(pki, CLIENT_CN);
  const tokens = new TokenManager({ dispatcher: agent, clientId: CLIENT_ID, scope: SCOPES.join(' '), tokenEndpoint: iam.tokenEndpoint, timeoutMs: 5_000 });
  const sleeps: number[] = [];
  const http = new AuthorizedHttp({
    dispatcher: agent,
    tokens,
    allowedOrigins: [aim.origin, vault.origin],
    timeoutMs: 5_000,
    sleep: async (ms) => void sleeps.push(ms),
  });
  return {
    pki, iam, aim, vault, agent, tokens, http, sleeps,
    async stop() {
      tokens.close();
      await Promise.allSettled([vault.stop(), aim.stop(), iam.stop()]);
      await agent.close();
    },
  };
}
