/**
 * `npm run sandbox`: the local CARA platform alone, for use from any Node-RED.
 * Faults for demos come from the environment: SANDBOX_LATENCY_MS, SANDBOX_ERROR_RATE (0..1).
 */
import { startSandbox, SANDBOX_CLIENTS, type RunningSandbox } from './index';
import type { FaultSettings } from './faults';

function faultsFromEnv(): FaultSettings {
  const latencyMs = Number(process.env.SANDBOX_LATENCY_MS ?? 0);
  const errorRate = Number(process.env.SANDBOX_ERROR_RATE ?? 0);
  return { ...(latencyMs > 0 ? { latencyMs } : {}), ...(errorRate > 0 ? { errorRate } : {}) };
}

export function describeSandbox(sandbox: RunningSandbox): string {
  const lines = [
    'CARA sandbox running:',
    `  IAM issuer   ${sandbox.iam.issuer}`,
    `  AIM          ${sandbox.aim.origin}`,
    `  FHIR Vault   ${sandbox.vault.base}`,
    `  CA           ${sandbox.files.caCert}`,
  ];
  for (const client of SANDBOX_CLIENTS) {
    const files = sandbox.files.clients[client.certificateCommonName];
    lines.push(`  client ${client.clientId} (${client.scopes.join(' ')})`);
    if (files) lines.push(`    certificate ${files.cert}`, `    key         ${files.key}`, `    PKCS#12     ${files.pfx} (passphrase in ${files.passphraseFile})`);
  }
  return lines.join('\n');
}

export async function runUntilSignal(stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await stop();
}

if (require.main === module) {
  startSandbox({ faults: faultsFromEnv() })
    .then(async (sandbox) => {
      console.log(describeSandbox(sandbox));
      console.log('Ctrl-C stops it.');
      await runUntilSignal(() => sandbox.stop());
    })
    .catch((err: unknown) => {
      console.error('The sandbox could not start:', err instanceof Error ? err.message : err);
      process.exitCode = 1;
    });
}
