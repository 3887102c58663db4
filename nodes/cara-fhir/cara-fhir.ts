/**
 * cara-fhir: every FHIR REST interaction against a patient's vault partition. A thin adapter:
 * msg + settings -> FhirRequest (request-builder.ts) -> the config's FhirClient -> msg (output.ts).
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { findConfigNode, mirrorConfigStatus } from '../shared/config-api';
import { onInput, toCaraError } from '../shared/input-handler';
import { ok } from '../shared/status';
import { CaraError, isCaraError } from '../../src/errors';
import type { FhirClient } from '../../src/fhir/client';
import type { FhirRequest } from '../../src/fhir/types';
import { buildFhirRequest, describeRequest, prepareSettings, settingsFromDef, type FhirNodeDef, type FhirNodeSettings } from './request-builder';
import { PartsSequence, resourcesOf, writeResource, writeResponse } from './output';

/** The paging error, saying that the sequence already sent is a partial one (a Catch flow may want to discard it). */
function stoppedPartWay(thrown: unknown, sent: number): CaraError {
  const err = toCaraError(thrown);
  const message = `paging stopped part-way: the ${sent} message(s) sent form an incomplete sequence (the last one carries parts.count = ${sent}). ${err.message}`;
  return new CaraError(err.code, message, {
    statusCode: err.statusCode,
    oauthError: err.oauthError,
    outcome: err.outcome,
    property: err.property,
    retryable: err.retryable,
    cause: err,
  });
}

export = function (RED: NodeAPI): void {
  /** One message per page or per resource, sent as each page arrives. */
  async function sendSequence(
    fhir: FhirClient,
    request: FhirRequest,
    msg: NodeMessageInFlow,
    send: (msg: NodeMessage) => void,
  ): Promise<NodeStatus> {
    const perResource = request.paging?.mode === 'resources';
    // Each message of the sequence is a copy of the incoming one without its (possibly large) payload.
    const template: NodeMessage = { ...msg, payload: undefined };
    const sequence = new PartsSequence(send, RED.util.generateId(), msg.parts);
    try {
      for await (const page of fhir.pages(request)) {
        if (!perResource) {
          const out = RED.util.cloneMessage(template);
          writeResponse(out, page);
          sequence.push(out);
          continue;
        }
        for (const item of resourcesOf(page.body)) {
          const out = RED.util.cloneMessage(template);
          writeResource(out, page, item);
          sequence.push(out);
        }
      }
    } catch (err) {
      const sent = sequence.abort();
      throw sent === 0 ? err : stoppedPartWay(err, sent);
    }
    const count = sequence.finish();
    return ok(RED._(perResource ? 'cara-fhir.status.resources' : 'cara-fhir.status.pages', { count }));
  }

  function setUp(node: Node, def: FhirNodeDef): void {
    const warned = new Set<string>();

    let settings: FhirNodeSettings | undefined;
    let settingsError: CaraError | undefined;
    try {
      // Fixed settings ('str', 'env', ...) are evaluated and checked here once, not per message.
      settings = prepareSettings(RED, node, settingsFromDef(def));
    } catch (err) {
      settingsError = isCaraError(err) ? err : new CaraError('CARA_CONFIG', String(err));
    }

    const config = findConfigNode(RED, def.config);
    const statusMirror = mirrorConfigStatus(node, config);
    if (isCaraError(config)) settingsError ??= config;
    if (settingsError) node.status({ fill: 'red', shape: 'ring', text: RED._('cara-fhir.status.notConfigured') });

    onInput(
      node,
      settings ? describeRequest(settings) : '',
      async ({ msg, send }) => {
        if (settingsError || !settings) throw settingsError;
        if (isCaraError(config)) throw config;
        // Validation first: a wrong value fails the message before any token or connection is asked for.
        const request = await buildFhirRequest(RED, node, msg, settings, warned);
        const { fhir } = await config.client();
        const mode = request.paging?.mode ?? 'first';
        if (mode === 'pages' || mode === 'resources') return sendSequence(fhir, request, msg, send);
        const response = mode === 'merge' ? await fhir.merged(request) : await fhir.request(request);
        writeResponse(msg, response);
        send(msg);
        return ok(String(response.statusCode));
      },
      statusMirror,
    );
  }
  function CaraFhirNode(this: Node, def: FhirNodeDef): void {
    RED.nodes.createNode(this, def);
    setUp(this, def);
  }
  RED.nodes.registerType('cara-fhir', CaraFhirNode);
};
