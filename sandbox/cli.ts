/**
 * `npm run sandbox`: the local CARA platform alone, for use from any Node-RED.
 * Faults for demos come from the environment: SANDBOX_LATENCY_MS, and shares of requests (0..1)
 * SANDBOX_ERROR_RATE (503), SANDBOX_RATE_LIMIT_RATE (429 + Retry-After: SANDBOX_RETRY_AFTER s),
 * SANDBOX_DROP_RATE (connection dropped).
 */
import { startSandbox, SANDBOX_CLIENTS, type RunningSandbox } from './index';
import type { FaultSettings } from './faults';

const FAULT_VARIABLES: ReadonlyArray<[keyof FaultSettings, string]> = [
  ['latencyMs', 'SANDBOX_LATENCY_MS'],
  ['errorRate', 'SANDBOX_ERROR_RATE'],
  ['rateLimitRate', 'SANDBOX_RATE_LIMIT_RATE'],
  ['retryAfterSeconds', 'SANDBOX_RETRY_AFTER'],
  ['dropRate', 'SANDBOX_DROP_RATE'],
];

export function faultsFromEnv(env: NodeJS.ProcessEnv = process.env): FaultSettings {
  const settings: FaultSettings = {};
  for (const [setting, variable] of FAULT_VARIABLES) {
    const value = Number(env[variable] ?? '');
    if (env[variable] !== undefined && (!Number.isFinite(value) || value < 0)) {
      throw new Error(`${variable}="${env[variable]}" is not a non-negative number`);
    }
    if (value > 0) settings[setting] = value;
  }
  return settings;
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
