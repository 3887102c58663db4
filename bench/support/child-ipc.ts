/**
 * The request/reply protocol between the benchmark and its peer processes (peers-process.ts:
 * IAMs and AIM; fhir-process.ts: the FHIR server), both ends: `serve` in a child, `ChildPeer`
 * in the benchmark. Every child answers `counters`, `reset`, `stop`, and records its own
 * event-loop lag between `lagStart` and `lagStop`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { LagRecorder, type LagTrace } from './lag';

export type ChildCall = 'counters' | 'reset' | 'stop' | 'lagStart' | 'lagStop';
export type ChildRequest = { id: number; call: ChildCall };
export type ChildReply<C> = { id: number; counters?: C; lag?: LagTrace; error?: string };
export type ChildMessage<R, C> = { ready: R } | { failed: string } | ChildReply<C>;

/** 1 ms: the stalls looked for last a few ms; a coarser timer would under-report them. */
const PEER_LAG_INTERVAL_MS = 1;
const START_TIMEOUT_MS = 60_000;

export interface ChildHandlers<C> {
  counters(): C;
  reset(): void;
  stop(): Promise<void>;
}

/** In a child: answers the benchmark's requests; the parent going away ends the child. */
export function serve<C>(handlers: ChildHandlers<C>): void {
  let lag: LagRecorder | undefined;
  process.on('message', (request: ChildRequest) => {
    const answer = async (): Promise<ChildReply<C>> => {
      switch (request.call) {
        case 'counters':
          return { id: request.id, counters: handlers.counters() };
        case 'reset':
          handlers.reset();
          return { id: request.id, counters: handlers.counters() };
        case 'lagStart':
          lag?.stop();
          lag = new LagRecorder(PEER_LAG_INTERVAL_MS);
          return { id: request.id };
        case 'lagStop': {
          lag?.stop();
          const trace = lag?.trace() ?? { times: [], lags: [] };
          lag = undefined;
          return { id: request.id, lag: trace };
        }
        case 'stop':
          lag?.stop();
          await handlers.stop();
          return { id: request.id };
      }
    };
    answer()
      .then(send, (err: unknown) => send({ id: request.id, error: String(err) }))
      .finally(() => {
        if (request.call === 'stop') process.disconnect?.();
      });
  });
  // The parent going away (Ctrl-C, crash) ends the peers too.
  process.on('disconnect', () => process.exit());
}

export function send<R, C>(message: ChildMessage<R, C>): void {
  process.send?.(message);
}

/** In the benchmark: one forked peer process, started and ready. */
export class ChildPeer<R, C> {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: ChildReply<C>) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly info: R,
  ) {
    child.on('message', (message: ChildMessage<R, C>) => {
      if ('id' in message) {
        this.waiting.get(message.id)?.(message);
        this.waiting.delete(message.id);
      }
    });
  }

  /**
   * Forks `script` (process.execArgv carries tsx's loader, so the child runs TypeScript like
   * the parent), sends it `setup` over IPC (key material stays off the command line) and
   * waits for its `ready`.
   */
  static async start<S, R, C>(name: string, script: string, setup: S): Promise<ChildPeer<R, C>> {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8_000);
    });
    try {
      const info = await new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the ${name} did not start within ${START_TIMEOUT_MS / 1000} s\n${stderr}`)), START_TIMEOUT_MS);
        child.on('message', function onMessage(message: ChildMessage<R, C>) {
          if ('ready' in message) {
            clearTimeout(timer);
            child.off('message', onMessage);
            resolve(message.ready);
          } else if ('failed' in message) {
            clearTimeout(timer);
            reject(new Error(`the ${name} failed to start: ${message.failed}`));
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the ${name} process exited (${code}) before it was ready\n${stderr}`));
        });
        child.send({ setup });
      });
      return new ChildPeer<R, C>(child, info);
    } catch (err) {
      if (child.exitCode === null) child.kill();
      throw err;
    }
  }

  call(name: ChildCall): Promise<ChildReply<C>> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.set(id, (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply)));
      this.child.send({ id, call: name } satisfies ChildRequest);
    });
  }

  async stop(): Promise<void> {
    if (this.child.connected) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      await this.call('stop').catch(() => undefined);
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
    }
    if (this.child.exitCode === null) this.child.kill();
  }
}

/** In a child: the setup the parent sends right after fork. */
export function receiveSetup<S>(): Promise<S> {
  return new Promise((resolve) => {
    process.on('message', function onSetup(message: { setup?: S }) {
      if (message && typeof message === 'object' && 'setup' in message) {
        process.off('message', onSetup);
        resolve(message.setup as S);
      }
    });
  });
}
