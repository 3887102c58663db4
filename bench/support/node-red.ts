/**
 * A real Node-RED runtime in this process, started the way an embedding application starts
 * it (`RED.init` + `RED.start`, no editor), with the core nodes and this package loaded as a
 * node module from its package.json (the built files in dist/). Flows are deployed with the
 * runtime's own full-deploy path.
 *
 * Two node types drive the flows: `bench-source` (no input: the bench calls send() on it)
 * and `bench-sink` (resolves the pending message when it arrives). Messages are matched by
 * `_msgid`, which every node on the way keeps. A Catch node wired to the sink turns a failed
 * message into a rejected promise.
 *
 * The test helper (node-red-node-test-helper) is not used here: it wraps Node methods in
 * sinon spies that record every call, which would distort both time and memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EventEmitter } from 'node:events';

const load = createRequire(__filename);

export type FlowNode = { id: string; type: string; [setting: string]: unknown };
export type Msg = Record<string, unknown> & { _msgid?: string };

/** The part of a runtime node the bench uses. */
interface RuntimeNode extends EventEmitter {
  id: string;
  send(msg: Msg): void;
}

/** The internal nodes API of the runtime (RED.nodes), as far as used here. */
interface RuntimeNodes {
  registerType(nodeSet: string, type: string, constructor: (this: RuntimeNode, def: FlowNode) => void): void;
  createNode(node: RuntimeNode, def: FlowNode): void;
  getNode(id: string): RuntimeNode | null;
  setFlows(flows: FlowNode[], credentials: Record<string, object>, type: 'full'): Promise<string>;
}

interface NodeRedApp {
  init(settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  nodes: RuntimeNodes;
  runtime: { events: EventEmitter };
}

/** Completes a pending message: true once the last message of it has arrived. */
type Accept = (msg: Msg) => boolean;

interface Pending {
  accept: Accept;
  resolve(msg: Msg): void;
  reject(err: Error): void;
}

const REPO_ROOT = resolve(__dirname, '..', '..');
const TAB = 'bench-tab';

/** The first message completes it; an HTTP error status from a core http request node fails it. */
export const firstMessage: Accept = (msg) => {
  const status = msg.statusCode;
  if (typeof status === 'number' && status >= 400) throw new Error(`HTTP ${status}`);
  return true;
};

/** A split-like sequence (msg.parts): complete when the message carrying parts.count arrived. */
export function wholeSequence(onMessage?: (msg: Msg) => void): Accept {
  let seen = 0;
  return (msg) => {
    seen += 1;
    onMessage?.(msg);
    const count = (msg.parts as { count?: unknown } | undefined)?.count;
    return typeof count === 'number' && seen >= count;
  };
}

export interface BenchRuntime {
  /** Full deploy of `flow` (positions, the tab and the credentials are handled here); resolves once the flows run. */
  deploy(flow: FlowNode[], credentials?: Record<string, object>): Promise<void>;
  /** Sends `msg` out of the bench-source `sourceId`; resolves with the message that completes it at a sink. */
  send(sourceId: string, msg?: Msg, accept?: Accept): Promise<Msg>;
  /** A deployed node (e.g. a cara-config, to watch its token manager). */
  node<T = RuntimeNode>(id: string): T;
  /** Messages still waiting for their sink. */
  readonly pending: number;
  stop(): Promise<void>;
}

/** Flow nodes need a tab and a position (without x/y Node-RED treats a node as a config node). */
function placed(flow: FlowNode[]): FlowNode[] {
  const configTypes = new Set(['cara-config', 'tls-config']);
  const nodes = flow.map((n) => (configTypes.has(n.type) || n.type === 'tab' ? n : { z: TAB, x: 100, y: 100, ...n }));
  return [{ id: TAB, type: 'tab', label: 'bench' }, ...nodes];
}

export async function startNodeRed(): Promise<BenchRuntime> {
  const userDir = mkdtempSync(join(tmpdir(), 'cara-bench-node-red-'));
  const RED = load('node-red') as NodeRedApp;
  RED.init({
    userDir,
    flowFile: 'flows.json',
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    // this package, loaded from its package.json like an installed node module
    nodesDir: [REPO_ROOT],
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
  });
  await RED.start();

  const waiting = new Map<string, Pending>();
  let counter = 0;

  RED.nodes.registerType('bench', 'bench-source', function (this: RuntimeNode, def: FlowNode) {
    RED.nodes.createNode(this, def);
  });
  RED.nodes.registerType('bench', 'bench-sink', function (this: RuntimeNode, def: FlowNode) {
    RED.nodes.createNode(this, def);
    this.on('input', (msg: Msg, _send: unknown, done: () => void) => {
      const id = msg._msgid;
      const pending = id === undefined ? undefined : waiting.get(id);
      if (pending && id !== undefined) {
        const error = msg.error as { message?: unknown } | undefined;
        try {
          if (error) throw new Error(String(error.message ?? 'error'));
          if (pending.accept(msg)) {
            waiting.delete(id);
            pending.resolve(msg);
          }
        } catch (err) {
          waiting.delete(id);
          pending.reject(err as Error);
        }
      }
      done();
    });
  });

  return {
    async deploy(flow, credentials = {}) {
      const started = new Promise<void>((resolveStarted) => RED.runtime.events.once('flows:started', () => resolveStarted()));
      await RED.nodes.setFlows(placed(flow), credentials, 'full');
      await started;
    },
    send(sourceId, msg = {}, accept = firstMessage) {
      const source = RED.nodes.getNode(sourceId);
      if (!source) return Promise.reject(new Error(`no node ${sourceId} deployed`));
      counter += 1;
      const id = `bench-${counter}`;
      return new Promise<Msg>((resolveMsg, reject) => {
        waiting.set(id, { accept, resolve: resolveMsg, reject });
        source.send({ ...msg, _msgid: id });
      });
    },
    node<T>(id: string): T {
      const found = RED.nodes.getNode(id);
      if (!found) throw new Error(`no node ${id} deployed`);
      return found as unknown as T;
    },
    get pending() {
      return waiting.size;
    },
    async stop() {
      await RED.nodes.setFlows([], {}, 'full').catch(() => undefined);
      await RED.stop();
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

/** Wires a bench flow: source -> ...nodes -> sink, and a Catch for every node -> sink. */
export function benchFlow(chain: FlowNode[], extra: FlowNode[] = [], names = { source: 'source', sink: 'sink' }): FlowNode[] {
  const wired = chain.map((node, i) => ({ ...node, wires: [[i + 1 < chain.length ? chain[i + 1].id : names.sink]] }));
  return [
    { id: names.source, type: 'bench-source', wires: [[chain[0]?.id ?? names.sink]] },
    ...wired,
    { id: names.sink, type: 'bench-sink', wires: [] },
    { id: `${names.sink}-catch`, type: 'catch', scope: null, uncaught: false, wires: [[names.sink]] },
    ...extra,
  ];
}
