/** The small vocabulary of node status shown under every CARA node. */
import type { NodeStatus } from 'node-red';

export const STATUS_TEXT_MAX = 40;

export function working(text: string): NodeStatus {
  return { fill: 'blue', shape: 'dot', text };
}

export function ok(text: string): NodeStatus {
  return { fill: 'green', shape: 'dot', text };
}

export function idle(text = ''): NodeStatus {
  return { fill: 'grey', shape: 'ring', text };
}

export function warning(text: string): NodeStatus {
  return { fill: 'yellow', shape: 'ring', text: shorten(text) };
}

export function failed(text: string): NodeStatus {
  return { fill: 'red', shape: 'ring', text: shorten(text) };
}

/** Status text must stay short; the full reason goes to the error / debug sidebar. */
export function shorten(text: string): string {
  return text.length > STATUS_TEXT_MAX ? `${text.slice(0, STATUS_TEXT_MAX - 1)}…` : text;
}
