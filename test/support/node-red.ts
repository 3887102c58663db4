/**
 * Shared support for node tests: a real Node-RED runtime (node-red-node-test-helper), the
 * BUILT node modules (dist/, run `npm run build` first), and the real platform peers from
 * sandbox/ over real mTLS.
 *
 *   const platform = await startPlatform();
 *   const { node, credentials } = caraConfig(platform, { certificate: 'pkcs12' });
 *   await loadFlow([node, { id: 't', type: 'cara-token', config: node.id, wires: [['out']] }, ...], credentials);
 *
 * RED._ is the real thing here: the built en-US catalogues with Node-RED's `__param__`
 * interpolation. A key missing from a catalogue is recorded in `missingMessageKeys` (and
 * returned as is), so every suite can assert that the texts users see exist.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Node, NodeAPI, NodeStatus } from 'node-red';
import { createPki, type ClientIdentity, type Pki } from '../../sandbox/pki';
import { startIam, type IamClientRegistration, type RunningIam } from '../../sandbox/iam';

const load = createRequire(__filename);

/** A node module as Node-RED loads it. */
export type NodeModule = (RED: NodeAPI) => void | Promise<void>;

/** A flow entry: any node definition. */
export type FlowNode = { id: string; type: string; [setting: string]: unknown };

/** A call recorded by the helper's sinon spies (node.status, node.error, node.log, ...). */
export interface SpyCall {
  args: unknown[];
}

export interface LogEvent {
  level: number;
  msg?: unknown;
  id?: string;
  type?: string;
}

/** The part of node-red-node-test-helper these tests use (it ships no types). */
export interface TestHelper {
  init(runtimePath: string, settings?: object): void;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  load(nodes: NodeModule[], flow: FlowNode[], credentials: Record<string, object>): Promise<void>;
  unload(): Promise<void>;
  setFlows(flow: FlowNode[], type: 'full' | 'flows' | 'nodes', credentials: Record<string, object>): Promise<void>;
  getNode(id: string): Node | null;
  log(): { args: Array<[LogEvent]> } | undefined;
}

export const helper = load('node-red-node-test-helper') as TestHelper;
helper.init(load.resolve('node-red'), { telemetry: { enabled: false } });

const DIST_NODES = resolve(__dirname, '..', '..', 'dist', 'nodes');

// ---------------------------------------------------------------- message catalogues

type Catalogue = { [key: string]: string | Catalogue };

function readCatalogues(): Catalogue {
  const merged: Catalogue = {};
  if (!existsSync(DIST_NODES)) return merged;
  for (const type of readdirSync(DIST_NODES)) {
    const dir = join(DIST_NODES, type, 'locales', 'en-US');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      Object.assign(merged, JSON.parse(readFileSync(join(dir, file), 'utf8')) as Catalogue);
    }
  }
  return merged;
}

let catalogue: Catalogue | undefined;
/** Keys asked for that no catalogue holds. */
export const missingMessageKeys = new Set<string>();

/** RED._ as Node-RED does it for en-US: dotted keys, `__name__` placeholders. */
export function translate(key: string, params: Record<string, unknown> = {}): string {
  catalogue ??= readCatalogues();
  let entry: string | Catalogue | undefined = catalogue;
  for (const part of key.split('.')) entry = typeof entry === 'object' ? entry[part] : undefined;
  if (typeof entry !== 'string') {
    missingMessageKeys.add(key);
    return key;
  }
  return entry.replace(/__([A-Za-z0-9_]+)__/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

function withCatalogue(module: NodeModule): NodeModule {
  return (RED) => {
    (RED as unknown as { _: typeof translate })._ = translate;
    return module(RED);
  };
}

/** A built node module, e.g. `builtNode('cara-token')`. */
export function builtNode(type: string): NodeModule {
  const file = join(DIST_NODES, type, `${type}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` before the node tests`);
  return withCatalogue(load(file) as NodeModule);
}

/** The CARA nodes a flow may use (tls-config comes from Node-RED's core nodes). */
export function caraNodes(...types: string[]): NodeModule[] {
  return types.map(builtNode);
}

export function tlsConfigNode(): NodeModule {
  return withCatalogue(load(load.resolve('@node-red/nodes/core/network/05-tls.js')) as NodeModule);
}

// ---------------------------------------------------------------- the platform

/** Technical users the test IAM knows, plus one with a CA-signed certificate it does not know. */
export const TEST_CLIENTS = {
  importer: {
    clientId: 'tcu-test/importer',
    certificateCommonName: 'tcu-test-importer',
    scopes: ['ns:cara:authx.Reader', 'ns:cara:scp.Contributor'],
    accountUrn: 'urn:cara:account:test/importer',
    orgIdUrn: 'urn:cara:org_id:2.16.756.5.30.1.178',
  },
  stranger: {
    clientId: 'tcu-test/stranger',
    certificateCommonName: 'tcu-test-stranger',
    scopes: [],
  },
} satisfies Record<string, IamClientRegistration>;
export type TestClientName = keyof typeof TEST_CLIENTS;

export interface PlatformOptions {
  /** Lifetime of the IAM's tokens (default 300 s, as on CARA). */
  accessTokenTtlSeconds?: number;
}

export interface Platform {
  pki: Pki;
  iam: RunningIam;
  /** A scratch folder for certificate files (removed by stop()). */
  dir: string;
  identity(name: TestClientName): ClientIdentity;
  stop(): Promise<void>;
}

/** Starts the IAM (more services join here as their tests need them). */
export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const pki = createPki();
  const registered = [TEST_CLIENTS.importer];
  const iam = await startIam({ pki, clients: registered, accessTokenTtlSeconds: options.accessTokenTtlSeconds });
  const dir = mkdtempSync(join(tmpdir(), 'cara-node-test-'));
  return {
    pki,
    iam,
    dir,
    identity: (name) => pki.client(TEST_CLIENTS[name].certificateCommonName),
    async stop() {
      await iam.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- a cara-config in a flow

export type CertificateChoice = 'pem' | 'pem-encrypted' | 'pem-file' | 'pkcs12' | 'pkcs12-file' | 'tls-config' | 'none';

export interface ConfigOptions {
  id?: string;
  client?: TestClientName;
  /** Defaults to the client's registered id. */
  clientId?: string;
  /** Defaults to the client's registered scopes. */
  scope?: string;
  certificate?: CertificateChoice;
  /** Another certificate for the client (e.g. one that expires soon). */
  identity?: ClientIdentity;
  /** Overrides the identity's real passphrase (e.g. a wrong one). */
  passphrase?: string;
  verifyTokens?: boolean;
  /** Any other cara-config setting. */
  settings?: Record<string, unknown>;
}

export interface ConfigNodeSetup {
  node: FlowNode;
  /** Credentials keyed by node id, as helper.load wants them. */
  credentials: Record<string, object>;
  /** Extra nodes the config refers to (a tls-config). */
  extraNodes: FlowNode[];
  identity?: ClientIdentity;
}

let fileCounter = 0;
function writeScratch(platform: Platform, name: string, content: string | Buffer): string {
  fileCounter += 1;
  const path = join(platform.dir, `${fileCounter}-${name}`);
  writeFileSync(path, content);
  return path;
}

/** A cara-config node (custom environment pointing at the platform's IAM) with its credentials. */
export function caraConfig(platform: Platform, options: ConfigOptions = {}): ConfigNodeSetup {
  const id = options.id ?? 'cara-config-1';
  const registration = TEST_CLIENTS[options.client ?? 'importer'];
  const certificate = options.certificate ?? 'pem';
  const identity = certificate === 'none' ? undefined : (options.identity ?? platform.identity(options.client ?? 'importer'));
  const passphrase = options.passphrase ?? identity?.passphrase;
  const node: FlowNode = {
    id,
    type: 'cara-config',
    name: 'test IAM',
    environment: 'custom',
    issuer: platform.iam.issuer,
    clientId: options.clientId ?? registration.clientId,
    scope: options.scope ?? registration.scopes.join(' '),
    certificateSource: certificate === 'pem-encrypted' || certificate === 'none' ? 'pem' : certificate,
    timeout: 10,
    verifyTokens: options.verifyTokens ?? false,
    ...options.settings,
  };
  const credentials: Record<string, string> = { caPem: platform.pki.ca.certPem };
  const extraNodes: FlowNode[] = [];
  const extraCredentials: Record<string, object> = {};
  if (identity) {
    switch (certificate) {
      case 'pem':
        Object.assign(credentials, { certPem: identity.certPem, keyPem: identity.keyPem });
        break;
      case 'pem-encrypted':
        Object.assign(credentials, { certPem: identity.certPem, keyPem: identity.encryptedKeyPem, passphrase });
        break;
      case 'pem-file':
        node.certPath = writeScratch(platform, 'client.crt', identity.certPem);
        node.keyPath = writeScratch(platform, 'client.key', identity.encryptedKeyPem);
        credentials.passphrase = passphrase ?? '';
        break;
      case 'pkcs12':
        Object.assign(credentials, { pfx: identity.pfx.toString('base64'), passphrase });
        break;
      case 'pkcs12-file':
        node.pfxPath = writeScratch(platform, 'client.p12', identity.pfx);
        credentials.passphrase = passphrase ?? '';
        break;
      case 'tls-config': {
        const tlsId = `${id}-tls`;
        node.tlsConfig = tlsId;
        extraNodes.push({ id: tlsId, type: 'tls-config', name: 'client cert', cert: '', key: '', ca: '', verifyservercert: true });
        extraCredentials[tlsId] = { certdata: identity.certPem, keydata: identity.encryptedKeyPem, cadata: platform.pki.ca.certPem, passphrase };
        break;
      }
    }
  }
  return { node, credentials: { [id]: credentials, ...extraCredentials }, extraNodes, identity };
}

const CONFIG_TYPES = new Set(['cara-config', 'tls-config']);

/** Node-RED treats a node without x/y as a config node: give flow nodes a position. */
function placed(flow: FlowNode[]): FlowNode[] {
  return flow.map((n) => (n.z && !CONFIG_TYPES.has(n.type) && n.x === undefined ? { ...n, x: 100, y: 100 } : n));
}

/** Loads a flow with the CARA node types it uses, the core tls-config and the helper's catch/status nodes. */
export async function loadFlow(flow: FlowNode[], credentials: Record<string, object> = {}): Promise<void> {
  const types = [...new Set(flow.map((n) => n.type).filter((type) => type.startsWith('cara-')))];
  if (!types.includes('cara-config')) types.unshift('cara-config');
  await helper.load([...caraNodes(...types), tlsConfigNode()], placed(flow), credentials);
}

/** A full redeploy of a flow already loaded (the node types stay registered). */
export async function redeploy(flow: FlowNode[], credentials: Record<string, object> = {}): Promise<void> {
  await helper.setFlows(placed(flow), 'full', credentials);
}

// ---------------------------------------------------------------- observing nodes

/** A node as the event emitter it is (its typings only name 'input' and 'close'). */
export function events(node: Node): EventEmitter {
  return node as unknown as EventEmitter;
}

/** Resolves with the first event `name` (e.g. 'input', 'call:status') whose first argument passes `test`. */
export function nextEvent<T>(node: Node, name: string, test: (value: T) => boolean = () => true, timeoutMs = 5_000): Promise<T> {
  const emitter = events(node);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(name, listener);
      reject(new Error(`no ${name} event on ${node.type} ${node.id} within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (value: T): void => {
      if (!test(value)) return;
      clearTimeout(timer);
      emitter.removeListener(name, listener);
      resolvePromise(value);
    };
    emitter.on(name, listener);
  });
}

/** The next status a node shows that passes `test`. */
export function nextStatus(node: Node, test: (status: NodeStatus) => boolean, timeoutMs = 5_000): Promise<NodeStatus> {
  return nextEvent<SpyCall>(node, 'call:status', (call) => test(call.args[0] as NodeStatus), timeoutMs).then((call) => call.args[0] as NodeStatus);
}

/** Every message the helper node `id` receives, collected until the test takes them. */
export function collect(id: string): { messages: Array<Record<string, unknown>>; next(timeoutMs?: number): Promise<Record<string, unknown>> } {
  const node = helper.getNode(id);
  if (!node) throw new Error(`no node ${id} in the flow`);
  const messages: Array<Record<string, unknown>> = [];
  const waiting: Array<(msg: Record<string, unknown>) => void> = [];
  events(node).on('input', (msg: Record<string, unknown>) => {
    const waiter = waiting.shift();
    if (waiter) waiter(msg);
    else messages.push(msg);
  });
  return {
    messages,
    next(timeoutMs = 5_000) {
      const queued = messages.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message reached ${id} within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((msg) => {
          clearTimeout(timer);
          resolvePromise(msg);
        });
      });
    },
  };
}

/** Waits until `condition()` holds, polling; fails after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends `msg` into node `id` as if a wire delivered it. */
export function inject(id: string, msg: Record<string, unknown> = {}): void {
  const node = helper.getNode(id);
  if (!node) throw new Error(`no node ${id} in the flow`);
  node.receive(msg);
}
