/**
 * What the browser tests drive: the local CARA sandbox on three consecutive ports and a real
 * Node-RED (node_modules/node-red/red.js, a child process) that loads this package from the repo
 * root through `nodesDir`, as `npm start` does. Node-RED runs the BUILT nodes (dist/): run
 * `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startSandbox, SANDBOX_CLIENTS, SANDBOX_PORTS, type RunningSandbox } from '../../../sandbox/index';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

export interface ClientMaterial {
  clientId: string;
  scopes: string[];
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface EditorStack {
  /** The editor's URL, e.g. http://127.0.0.1:40123/ */
  url: string;
  /** IAM port of the sandbox (AIM and FHIR are the next two): the config's "sandbox port". */
  sandboxPort: number;
  sandbox: RunningSandbox;
  client: ClientMaterial;
  /** Everything Node-RED printed, for the failure message of a test. */
  output(): string;
  stop(): Promise<void>;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/**
 * The sandbox's 'sandbox' environment wants IAM, AIM and FHIR on P, P+1, P+2. The usual 8443 when
 * free (the screenshots then show what `npm start` users see), else three random ones.
 */
async function threeConsecutiveFreePorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = attempt === 0 ? SANDBOX_PORTS.iam : 20000 + Math.floor(Math.random() * 40000);
    const free = await Promise.all([0, 1, 2].map((offset) => canListen(base + offset)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no three consecutive free ports found on 127.0.0.1');
}

function settingsFile(uiPort: number): string {
  return `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${uiPort},
  flowFile: 'flows.json',
  nodesDir: [${JSON.stringify(REPO_ROOT)}],
  credentialSecret: false,
  telemetry: { enabled: false },
  // No catalogue fetch from nodered.org: the tests have no network beyond localhost.
  editorTheme: { tours: false, projects: { enabled: false }, palette: { catalogues: [] } },
  diagnostics: { enabled: false },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`;
}

function waitForStart(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`Node-RED did not start within ${timeoutMs} ms:\n${output()}`)), timeoutMs);
    const onData = (): void => {
      if (/Started flows/.test(output())) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        done();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`Node-RED exited (${code}) before it started:\n${output()}`));
    });
  });
}

export async function startEditorStack(): Promise<EditorStack> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'nodes', 'cara-config', 'cara-config.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before the browser tests');
  }
  const dir = mkdtempSync(join(tmpdir(), 'cara-browser-'));
  const sandboxPort = await threeConsecutiveFreePorts();
  const sandbox = await startSandbox({ dir, ports: { iam: sandboxPort, aim: sandboxPort + 1, fhir: sandboxPort + 2 } });
  const registration = SANDBOX_CLIENTS[0];
  const files = sandbox.files.clients[registration.certificateCommonName];
  const client: ClientMaterial = {
    clientId: registration.clientId,
    scopes: registration.scopes,
    certFile: files.cert,
    keyFile: files.key,
    caFile: sandbox.files.caCert,
  };

  const userDir = join(dir, 'node-red');
  const uiPort = await freePort();
  writeFileSync(join(dir, 'settings.js'), settingsFile(uiPort));
  let log = '';
  const child = spawn(process.execPath, [join(REPO_ROOT, 'node_modules', 'node-red', 'red.js'), '--userDir', userDir, '--settings', join(dir, 'settings.js')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // The example flows' "CARA sandbox" connection reads these, as under `npm start`.
      CARA_SANDBOX_CERT: client.certFile,
      CARA_SANDBOX_KEY: client.keyFile,
      CARA_SANDBOX_CA: client.caFile,
      CARA_SANDBOX_CLIENT_ID: client.clientId,
    },
  });
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await exited;
    }
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForStart(child, () => log, 30000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${uiPort}/`, sandboxPort, sandbox, client, output: () => log, stop };
}
