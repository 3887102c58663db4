/**
 * The one input-error path of every CARA flow node: each message ends in exactly one
 * send() + done() or one done(err), never both, and never an unhandled rejection.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { CaraError, isCaraError } from '../../src/errors';
import { redact } from '../../src/redact';
import type { StatusMirror } from './config-api';
import { errorStatusText, failed, working } from './status';

type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
type Done = (err?: Error) => void;

export interface InputContext {
  msg: NodeMessageInFlow;
  send: Send;
}

/** What a Catch flow finds on the message besides msg.error. */
function annotateForCatch(msg: NodeMessageInFlow, err: CaraError): void {
  const target = msg as Record<string, unknown>;
  // Values left by an earlier node (a 200 from a previous request) would mislead the Catch flow.
  delete target.statusCode;
  delete target.outcome;
  if (err.statusCode !== undefined) target.statusCode = err.statusCode;
  if (err.outcome !== undefined) target.outcome = err.outcome;
}

/** Turns anything thrown into a CaraError whose message is safe to show. */
export function toCaraError(err: unknown): CaraError {
  if (isCaraError(err)) return err;
  const message = redact(err instanceof Error ? err.message : String(err));
  return new CaraError('CARA_INTERNAL', message, { cause: err });
}

/**
 * Registers the input handler. `handle` does the work and sends; it returns the status to
 * show at rest (or nothing to leave it). Errors thrown become a red status and done(err).
 * While messages are in flight, and after a failure until the next success, the config's
 * state does not overwrite this node's own status (see StatusMirror).
 */
export function onInput(
  node: Node,
  workingText: string,
  handle: (ctx: InputContext) => Promise<NodeStatus | undefined>,
  mirror: StatusMirror,
): void {
  let inFlight = 0;
  node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
    inFlight += 1;
    mirror.hold();
    if (inFlight === 1) node.status(working(workingText));
    // Two-argument then: a throw inside the success path must not reach done(err) after done().
    handle({ msg, send }).then(
      (status) => {
        inFlight -= 1;
        if (inFlight === 0) {
          node.status(status ?? mirror.resting());
          mirror.release();
        }
        done();
      },
      (thrown: unknown) => {
        inFlight -= 1;
        const err = toCaraError(thrown);
        annotateForCatch(msg, err);
        node.status(failed(errorStatusText(err)));
        done(err);
      },
    );
  });
}

export type { NodeAPI };
