/**
 * The cara-config admin endpoints are guarded by Node-RED's own permissions: with adminAuth on,
 * nobody without a login reaches them, a read-only user may read the presets but may not use
 * "test connection" (it spends a token request with the dialog's certificate), an admin may.
 * A real Node-RED process with adminAuth, loading this package from the repository.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort } from './support/examples';

const root = resolve(__dirname, '..');

async function waitUntilRunning(child: ChildProcess, timeoutMs: number): Promise<void> {
  let output = '';
  await new Promise<void>((started, failed) => {
    const timer = setTimeout(() => failed(new Error(`Node-RED did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Started flows')) {
        clearTimeout(timer);
        started();
      }
    });
    child.once('exit', (code) => failed(new Error(`Node-RED exited (${code}):\n${output}`)));
  });
}

describe('cara-config admin endpoints under adminAuth (real Node-RED)', function () {
  this.timeout(60_000);
  let dir: string;
  let child: ChildProcess;
  let base: string;

  async function login(username: string, password: string, scope: string): Promise<string> {
    const res = await fetch(`${base}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password }),
    });
    assert.equal(res.status, 200, `login of ${username}`);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  function testConnection(token?: string): Promise<Response> {
    return fetch(`${base}/cara-config/some-config/test`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ settings: { environment: 'sandbox', clientId: '' }, credentials: {} }),
    });
  }

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'cara-admin-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const users = [
      { username: 'viewer', password: bcrypt.hashSync('viewer-password', 4), permissions: 'read' },
      { username: 'admin', password: bcrypt.hashSync('admin-password', 4), permissions: '*' },
    ];
    await writeFile(
      join(dir, 'settings.js'),
      `module.exports = ${JSON.stringify({
        uiPort: port,
        uiHost: '127.0.0.1',
        nodesDir: [root],
        flowFile: 'flows.json',
        credentialSecret: false,
        telemetry: { enabled: false },
        editorTheme: { tours: false },
        adminAuth: { type: 'credentials', users },
      })};`,
    );
    child = spawn(process.execPath, [join(root, 'node_modules', 'node-red', 'red.js'), '--userDir', dir, '--settings', join(dir, 'settings.js')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.resume();
    await waitUntilRunning(child, 45_000);
  });

  after(async function () {
    child?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses "test connection" without a login', async function () {
    assert.equal((await testConnection()).status, 401);
  });

  it('refuses "test connection" to a read-only user, who may still read the presets', async function () {
    const token = await login('viewer', 'viewer-password', 'read');
    assert.equal((await testConnection(token)).status, 401);
    const presets = await fetch(`${base}/cara-config/environments`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(presets.status, 200);
  });

  it('lets an admin test a connection, and answers with the reason it cannot work', async function () {
    const res = await testConnection(await login('admin', 'admin-password', '*'));
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { ok: boolean; message?: string };
    assert.equal(answer.ok, false);
    assert.match(String(answer.message), /client id/i);
  });
});
