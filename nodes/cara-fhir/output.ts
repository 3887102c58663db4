/**
 * FhirResponse -> msg. The response headers go to msg.fhir, not msg.headers: a following core
 * `http request` node would send msg.headers on as request headers.
 */
import type { NodeMessage } from 'node-red';
import type { FhirResponse } from '../../src/fhir/types';

export interface FhirMessageInfo {
  location?: string;
  etag?: string;
  lastModified?: string;
  contentLocation?: string;
  /** 'resources' mode: the entry's fullUrl and search mode ('match', 'include', 'outcome'). */
  fullUrl?: string;
  searchMode?: string;
}

export interface SequenceParts {
  id: string;
  index: number;
  count?: number;
  type: 'array';
  len: 1;
  /** The parts of the incoming message, when it already belonged to a sequence (as the split node does). */
  parts?: unknown;
}

function headerInfo(response: FhirResponse): FhirMessageInfo {
  const info: FhirMessageInfo = {};
  const { location, etag, lastModified, contentLocation } = response.headers;
  if (location !== undefined) info.location = location;
  if (etag !== undefined) info.etag = etag;
  if (lastModified !== undefined) info.lastModified = lastModified;
  if (contentLocation !== undefined) info.contentLocation = contentLocation;
  return info;
}

/** Writes a whole response: msg.payload (resource, Bundle or OperationOutcome), msg.statusCode, msg.fhir. */
export function writeResponse(msg: NodeMessage, response: FhirResponse): void {
  msg.payload = response.body;
  msg.statusCode = response.statusCode;
  msg.fhir = headerInfo(response);
}

export interface BundleResource {
  resource: unknown;
  fullUrl?: string;
  searchMode?: string;
}

/** The resources of a Bundle page, in order, with what a flow needs to tell matches from includes. */
export function resourcesOf(bundle: unknown): BundleResource[] {
  const entries = (bundle as { entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return [];
  const resources: BundleResource[] = [];
  for (const entry of entries as Array<Record<string, unknown> | null>) {
    if (!entry || entry.resource === undefined) continue;
    const item: BundleResource = { resource: entry.resource };
    if (typeof entry.fullUrl === 'string') item.fullUrl = entry.fullUrl;
    const mode = (entry.search as { mode?: unknown } | undefined)?.mode;
    if (typeof mode === 'string') item.searchMode = mode;
    resources.push(item);
  }
  return resources;
}

export function writeResource(msg: NodeMessage, response: FhirResponse, item: BundleResource): void {
  msg.payload = item.resource;
  msg.statusCode = response.statusCode;
  const info = headerInfo(response);
  if (item.fullUrl !== undefined) info.fullUrl = item.fullUrl;
  if (item.searchMode !== undefined) info.searchMode = item.searchMode;
  msg.fhir = info;
}

/**
 * Sends a sequence of messages as they arrive, each with msg.parts like a split node's, so
 * that a join node in automatic mode rebuilds the array. The total is known only at the end,
 * so the last message is held back until the next one (or the end) and carries parts.count.
 */
export class PartsSequence {
  private held: NodeMessage | undefined;
  private sent = 0;

  constructor(
    private readonly send: (msg: NodeMessage) => void,
    private readonly id: string,
    private readonly outerParts: unknown,
  ) {}

  push(msg: NodeMessage): void {
    this.flush();
    const parts: SequenceParts = { id: this.id, index: this.sent, type: 'array', len: 1 };
    if (this.outerParts !== undefined) parts.parts = this.outerParts;
    msg.parts = parts;
    this.held = msg;
    this.sent += 1;
  }

  /** Sends the last message with the count; returns how many messages the sequence had. */
  finish(): number {
    if (this.held) (this.held.parts as SequenceParts).count = this.sent;
    this.flush();
    return this.sent;
  }

  /**
   * On a failure part-way: sends the held-back message with the count of messages actually sent,
   * so that a join node completes with the partial group instead of waiting for it forever.
   * Returns that count (0 when nothing had arrived).
   */
  abort(): number {
    return this.finish();
  }

  private flush(): void {
    if (!this.held) return;
    const msg = this.held;
    this.held = undefined;
    this.send(msg);
  }
}
