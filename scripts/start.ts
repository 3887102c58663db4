/**
 * `npm start`: the sandbox, then Node-RED with this package and the example flows, against it.
 * Node-RED gets its own user directory (.node-red, ignored by git) and finds this package
 * through `nodesDir`, so Import > Examples lists our flows too. Ctrl-C stops both.
 *
 * Environment: PORT (editor, 1880), SANDBOX_PORT (IAM; AIM and FHIR on the next two, 8443),
 * CARA_USER_DIR (.node-red), SANDBOX_DIR (.sandbox), and the SANDBOX_* faults of sandbox/cli.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startSandbox, SANDBOX_CLIENTS, SANDBOX_PORTS } from '../sandbox/index';
import { describeSandbox, faultsFromEnv, runUntilSignal } from '../sandbox/cli';

const root = resolve(__dirname, '..');
const userDir = resolve(process.env.CARA_USER_DIR ?? join(root, '.node-red'));
const sandboxDir = resolve(process.env.SANDBOX_DIR ?? join(root, '.sandbox'));
const port = Number(process.env.PORT ?? 1880);
const sandboxPort = Number(process.env.SANDBOX_PORT ?? SANDBOX_PORTS.iam);

interface FlowNode {
  id: string;
  type: string;
  z?: string;
  [key: string]: unknown;
}

/** One tab per example; every example shares the sandbox cara-config (same id), deployed once. */
function exampleFlows(): FlowNode[] {
  const dir = join(root, 'examples');
  const flows: FlowNode[] = [];
  const seen = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const nodes = JSON.parse(readFileSync(join(dir, file), 'utf8')) as FlowNode[];
    const tabId = `tab-${file.replace(/\.json$/, '')}`;
    flows.push({ id: tabId, type: 'tab', label: file.replace(/\.json$/, '').replace(/^\d+-/, '').replace(/-/g, ' ') });
    for (const node of nodes) {
      if (seen.has(node.id)) continue;
      seen.add(node.id);
      if (node.type === 'cara-config') flows.push(node.environment === 'sandbox' ? { ...node, sandboxPort } : node);
      else flows.push({ ...node, z: tabId });
    }
  }
  return flows;
}

function writeUserDir(): void {
  mkdirSync(userDir, { recursive: true });
  const settings = `module.exports = {
  uiPort: ${port},
  flowFile: 'flows.json',
  nodesDir: [${JSON.stringify(root)}],
  credentialSecret: false,
  telemetry: { enabled: false },
  editorTheme: { tours: false, projects: { enabled: false }, palette: { catalogues: [] } },
  diagnostics: { enabled: false },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`;
  writeFileSync(join(userDir, 'settings.js'), settings);
  const flowFile = join(userDir, 'flows.json');
  // A user's edits survive a restart: the examples are written only into a fresh user dir.
  if (!existsSync(flowFile)) writeFileSync(flowFile, JSON.stringify(exampleFlows(), null, 2));
}

async function main(): Promise<void> {
  const started = Date.now();
  const sandbox = await startSandbox({
    dir: sandboxDir,
    ports: { iam: sandboxPort, aim: sandboxPort + 1, fhir: sandboxPort + 2 },
    faults: faultsFromEnv(),
  });
  writeUserDir();
  const client = SANDBOX_CLIENTS[0];
  const clientFiles = sandbox.files.clients[client.certificateCommonName];
  const nodeRed = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', join(userDir, 'settings.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      // The example flows' cara-config reads its certificate files through these (`${VAR}` properties).
      CARA_SANDBOX_CERT: clientFiles.cert,
      CARA_SANDBOX_KEY: clientFiles.key,
      CARA_SANDBOX_CA: sandbox.files.caCert,
      CARA_SANDBOX_CLIENT_ID: client.clientId,
    },
  });
  let ready = false;
  nodeRed.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!ready && /Started flows|Server now running/.test(chunk.toString())) {
      ready = true;
      console.log(`\n${describeSandbox(sandbox)}`);
      console.log(`\nNode-RED editor: http://127.0.0.1:${port}/  (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
      console.log('Try: open the "get token" tab and press the inject button; results appear in the debug sidebar.');
      console.log('Import > Examples > node-red-contrib-cara lists every example. Ctrl-C stops everything.');
    }
  });
  const exited = new Promise<void>((done) => nodeRed.once('exit', () => done()));
  await runUntilSignal(async () => {
    nodeRed.kill('SIGINT');
    await exited;
    await sandbox.stop();
  });
}

main().catch((err: unknown) => {
  console.error('npm start failed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
