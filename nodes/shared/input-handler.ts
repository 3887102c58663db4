/**
 * The one input-error path of every CARA flow node: each message ends in exactly one
 * send() + done() or one done(err), never both, and never an unhandled rejection.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { CaraError, isCaraError } from '../../src/errors';
import { redact } from '../../src/redact';
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
  if (err.statusCode !== undefined) target.statusCode = err.statusCode;
  if (err.outcome !== undefined) target.outcome = err.outcome;
}

/** Turns anything thrown into a CaraError whose message is safe to show. */
export function toCaraError(err: unknown): CaraError {
  if (isCaraError(err)) return err;
  const message = redact(err instanceof Error ? err.message : String(err));
  return new CaraError('CARA_INPUT', message, { cause: err });
}

/**
 * Registers the input handler. `handle` does the work and sends; it returns the status to
 * show at rest (or nothing to leave it). Errors thrown become a red status and done(err).
 */
export function onInput(
  node: Node,
  workingText: string,
  handle: (ctx: InputContext) => Promise<NodeStatus | undefined>,
  restingStatus: () => NodeStatus,
): void {
  let inFlight = 0;
  node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
    inFlight += 1;
    if (inFlight === 1) node.status(working(workingText));
    handle({ msg, send })
      .then((status) => {
        inFlight -= 1;
        if (inFlight === 0) node.status(status ?? restingStatus());
        done();
      })
      .catch((thrown: unknown) => {
        inFlight -= 1;
        const err = toCaraError(thrown);
        annotateForCatch(msg, err);
        node.status(failed(errorStatusText(err)));
        done(err);
      });
  });
}

export type { NodeAPI };
