/**
 * Support for the example-flow test: reading examples/*.json, the node modules a flow needs (our
 * BUILT nodes from dist/ plus Node-RED's core nodes), the flow as a test loads it, the sandbox on
 * three consecutive ports (so that the examples' 'sandbox' environment works unchanged), and an
 * MLLP client for the HL7 example.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { NodeAPI } from 'node-red';
import { startSandbox, type RunningSandbox } from '../../sandbox/index';
import { helper, translate, type FlowNode, type NodeModule } from './node-red';

const load = createRequire(__filename);
const ROOT = resolve(__dirname, '..', '..');
export const EXAMPLES_DIR = join(ROOT, 'examples');
const DIST_NODES = join(ROOT, 'dist', 'nodes');
const SOURCE_NODES = join(ROOT, 'nodes');

/** A node as an example file stores it. */
export interface ExampleNode {
  id: string;
  type: string;
  z?: string;
  x?: number;
  y?: number;
  wires?: string[][];
  [setting: string]: unknown;
}

export const CARA_TYPES = ['cara-config', 'cara-token', 'cara-resolve-account', 'cara-fhir'] as const;

/** Core node types the examples may use, with the file that registers each (under @node-red/nodes/core). */
export const CORE_NODE_FILES: Readonly<Record<string, string>> = {
  inject: 'common/20-inject.js',
  debug: 'common/21-debug.js',
  comment: 'common/90-comment.js',
  catch: 'common/25-catch.js',
  function: 'function/10-function.js',
  change: 'function/15-change.js',
  switch: 'function/10-switch.js',
  template: 'function/80-template.js',
  split: 'sequence/17-split.js',
  join: 'sequence/17-split.js',
  'tcp in': 'network/31-tcpin.js',
  'tcp out': 'network/31-tcpin.js',
  'tcp request': 'network/31-tcpin.js',
};

export function exampleFiles(): string[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort();
}

export function readExample(file: string): ExampleNode[] {
  return JSON.parse(readFileSync(join(EXAMPLES_DIR, file), 'utf8')) as ExampleNode[];
}

export function isConfigNode(node: ExampleNode): boolean {
  return node.type === 'cara-config' || node.type === 'tls-config';
}

/**
 * The property names of a CARA node's editor `defaults` (its .html): what an import keeps and
 * the editor shows. Read from the source, the file the editor is built from.
 */
export function editorDefaults(type: string): string[] {
  const html = readFileSync(join(SOURCE_NODES, type, `${type}.html`), 'utf8');
  const start = html.search(/\bdefaults\s*:\s*\{/);
  if (start < 0) throw new Error(`${type}.html has no defaults`);
  // The keys at the first level of the defaults object (values may hold objects and functions).
  const keys: string[] = [];
  let depth = 0;
  for (const line of html.slice(html.indexOf('{', start)).split('\n')) {
    const key = /^\s*["']?([A-Za-z_]\w*)["']?\s*:/.exec(line);
    if (depth === 1 && key) keys.push(key[1]);
    for (const char of line) depth += char === '{' ? 1 : char === '}' ? -1 : 0;
    if (depth === 0) return keys;
  }
  throw new Error(`${type}.html: the defaults object does not end`);
}

/** Our built node; its RED._ reads the built en-US catalogues for our keys and leaves core keys alone. */
function caraNode(type: string): NodeModule {
  const file = join(DIST_NODES, type, `${type}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` before the example tests`);
  const module = load(file) as NodeModule;
  return (RED: NodeAPI) => {
    const coreTranslate = RED._;
    (RED as unknown as { _: (key: string, params?: Record<string, unknown>) => string })._ = (key, params) =>
      key.startsWith('cara-') ? translate(key, params) : (coreTranslate as (k: string, p?: object) => string)(key, params);
    return module(RED);
  };
}

/**
 * node-red-node-test-helper 0.3.6 runs its own copy of the catch module once per catch NODE of the
 * flow, and the second registration throws ("catch already registered"). The examples use several
 * catch nodes, so the helper's module is made to register once per runtime it is given.
 */
function registerCatchOncePerRuntime(): void {
  const modules = (helper as unknown as { _nodeModules?: Record<string, NodeModule> })._nodeModules;
  const original = modules?.catch;
  if (!modules || !original || (original as { once?: boolean }).once) return;
  const registeredIn = new WeakSet<NodeAPI>();
  const once: NodeModule & { once?: boolean } = (RED) => {
    if (registeredIn.has(RED)) return;
    registeredIn.add(RED);
    return original(RED);
  };
  once.once = true;
  modules.catch = once;
}
registerCatchOncePerRuntime();

/** The modules a flow needs: our built nodes and the core files of its other types (each file once). */
export function nodeModulesFor(flow: ExampleNode[]): NodeModule[] {
  const types = new Set(flow.map((node) => node.type));
  types.add('cara-config');
  const modules: NodeModule[] = [];
  const coreFiles = new Set<string>();
  for (const type of types) {
    if ((CARA_TYPES as readonly string[]).includes(type)) modules.push(caraNode(type));
    // The test helper registers catch itself (it has its own copy of the module).
    else if (type !== 'catch' && type !== 'tab' && CORE_NODE_FILES[type]) coreFiles.add(CORE_NODE_FILES[type]);
  }
  for (const file of coreFiles) modules.push(load(load.resolve(`@node-red/nodes/core/${file}`)) as NodeModule);
  return modules;
}

/**
 * The example as `npm start` deploys it: on a tab of its own (config nodes stay global), with
 * `rewrite` applied to each node for what a test must change (ports).
 */
export function asTestFlow(nodes: ExampleNode[], rewrite: (node: ExampleNode) => ExampleNode = (node) => node): FlowNode[] {
  const tab = 'examples-test-tab';
  return [
    { id: tab, type: 'tab', label: 'example under test' },
    ...nodes.map((node) => rewrite(isConfigNode(node) ? { ...node } : { ...node, z: tab })),
  ];
}

/** What a debug node puts in the editor's debug sidebar. */
export interface SidebarEntry {
  /** The debug node's id. */
  id: string;
  name?: string;
  /** What the user reads: the shown value, encoded as the editor receives it (JSON for objects). */
  msg: string;
  format?: string;
}

/**
 * Records what debug nodes publish to the editor's debug sidebar (the runtime's "comms" event),
 * i.e. exactly what a user would see; `stop()` ends the recording.
 */
export function recordSidebar(): { entries: SidebarEntry[]; stop(): void } {
  const events = (helper as unknown as { _events: EventEmitter })._events;
  const entries: SidebarEntry[] = [];
  const listener = (event: { topic?: string; data?: { id?: string; name?: string; msg?: unknown; format?: string } }): void => {
    if (event.topic !== 'debug' || !event.data?.id) return;
    entries.push({ id: event.data.id, name: event.data.name, msg: String(event.data.msg), format: event.data.format });
  };
  events.on('comms', listener);
  return { entries, stop: () => events.off('comms', listener) };
}

/** A TCP port free on localhost right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((answer) => {
    const server = createServer();
    server.once('error', () => answer(false));
    server.listen(port, '127.0.0.1', () => server.close(() => answer(true)));
  });
}

/**
 * The sandbox with IAM, AIM and vault on three consecutive ports (base, base+1, base+2), as
 * cara-config's 'sandbox' environment expects them; returns the base port.
 */
export async function startSandboxOnConsecutivePorts(dir: string): Promise<{ sandbox: RunningSandbox; basePort: number }> {
  const base = await consecutiveFreePorts(3);
  const sandbox = await startSandbox({ dir, ports: { iam: base, aim: base + 1, fhir: base + 2 } });
  return { sandbox, basePort: base };
}

/** The first of `count` consecutive ports free on localhost right now. */
export async function consecutiveFreePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let free = true;
    for (let offset = 0; offset < count && free; offset += 1) free = await portIsFree(base + offset);
    if (free) return base;
  }
  throw new Error(`found no ${count} consecutive free ports on localhost`);
}

/** MLLP framing: <VT> message <FS><CR>, segments separated by <CR>. */
export function mllpFrame(segments: string[]): Buffer {
  return Buffer.from(`\x0b${segments.join('\r')}\r\x1c\r`, 'utf8');
}

/** Sends one framed message to localhost:port and resolves with the answer's segments (one frame). */
export function mllpExchange(port: number, frame: Buffer, timeoutMs = 10_000): Promise<string[]> {
  return new Promise((resolveAnswer, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no MLLP answer on port ${port} within ${timeoutMs} ms (got ${JSON.stringify(received)})`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(frame));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      const end = received.indexOf('\x1c\r');
      if (end < 0) return;
      clearTimeout(timer);
      socket.end();
      if (!received.startsWith('\x0b')) reject(new Error(`the answer is not an MLLP frame: ${JSON.stringify(received)}`));
      else resolveAnswer(received.slice(1, end).split('\r').filter((segment) => segment !== ''));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
