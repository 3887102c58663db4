/**
 * The README's run command: `npm start` (scripts/start.ts) brings up the sandbox and Node-RED with
 * every example deployed; pressing an example's inject button works; Ctrl-C stops everything.
 * Runs the real script in a child process, on free ports and in temporary directories.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WebSocket } from 'undici';
import { consecutiveFreePorts, freePort, portIsFree } from './support/examples';

const root = resolve(__dirname, '..');

interface DebugEvent {
  topic: string;
  data: { id?: string; name?: string; msg?: string };
}

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${seen}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = pattern.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolveLine(match[0]);
      }
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}) early; output:\n${seen}`)));
  });
}

function portIsClosed(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/`).then(
    () => false,
    () => true,
  );
}

describe('npm start (scripts/start.ts)', function () {
  this.timeout(90_000);
  let child: ChildProcess;
  let dir: string;
  let editorPort: number;
  let sandboxPort: number;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'cara-start-'));
    editorPort = await freePort();
    sandboxPort = await consecutiveFreePorts(3);
    child = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'start.ts')], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(editorPort),
        SANDBOX_PORT: String(sandboxPort),
        CARA_USER_DIR: join(dir, 'node-red'),
        SANDBOX_DIR: join(dir, 'sandbox'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.resume();
    await waitForOutput(child, /Node-RED editor: http:\/\/127\.0\.0\.1:\d+\//, 60_000);
  });

  after(async function () {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('deploys every example, one tab each, sharing one sandbox connection', async function () {
    const flows = (await (await fetch(`http://127.0.0.1:${editorPort}/flows`)).json()) as Array<{ type: string; id: string }>;
    const tabs = flows.filter((n) => n.type === 'tab');
    assert.equal(tabs.length, 6);
    assert.equal(flows.filter((n) => n.type === 'cara-config' && n.id === 'cara-sandbox-config').length, 1);
  });

  it('gets a token when the first example\'s inject button is pressed, shown in the debug sidebar', async function () {
    const flows = (await (await fetch(`http://127.0.0.1:${editorPort}/flows`)).json()) as Array<{ type: string; id: string; z?: string; name?: string }>;
    const firstTab = flows.find((n) => n.type === 'tab');
    const inject = flows.find((n) => n.type === 'inject' && n.z === firstTab?.id && n.name === 'get token');
    assert.ok(inject, 'the first example has a "get token" inject');
    const socket = new WebSocket(`ws://127.0.0.1:${editorPort}/comms`);
    await new Promise((opened) => socket.addEventListener('open', opened, { once: true }));
    const debug = new Promise<DebugEvent>((resolveEvent) => {
      socket.addEventListener('message', (message) => {
        for (const event of JSON.parse(String(message.data)) as DebugEvent[]) if (event.topic === 'debug') resolveEvent(event);
      });
    });
    socket.send(JSON.stringify({ subscribe: 'debug' }));
    const pressed = await fetch(`http://127.0.0.1:${editorPort}/inject/${inject.id}`, { method: 'POST' });
    assert.equal(pressed.status, 200);
    const event = await debug;
    socket.close();
    const shown = JSON.parse(String(event.data.msg)) as { tokenType?: string; scope?: string };
    assert.equal(shown.tokenType, 'Bearer');
    assert.match(String(shown.scope), /ns:cara:scp\.Contributor/);
  });

  it('stops Node-RED and the sandbox on Ctrl-C', async function () {
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.ok(await portIsClosed(editorPort), 'the editor port is closed');
    assert.ok(await portIsFree(sandboxPort), 'the sandbox IAM port is free again');
  });
});
