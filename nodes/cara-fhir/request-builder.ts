/**
 * msg + node settings -> FhirRequest. Reads only the fields the chosen interaction uses,
 * checks each value where it came from (so an error names `msg.id`, not just "id") and
 * leaves the complete URL validation to FhirClient, which re-checks before sending.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { CaraError, inputError } from '../../src/errors';
import { partitionFromAccountUrn } from '../../src/aim';
import type { FhirInteraction, FhirQuery, FhirQueryValue, FhirRequest, PagingMode } from '../../src/fhir/types';
import { RESOURCE_TYPE_PATTERN, validateId, validatePartition, validateResourceType, validateVersionId, normalizeOperation } from '../../src/fhir/urls';
import { evaluateTypedNow, prepareSetting, resolveSettingNow, type PreparedSetting, type TypedSetting } from '../shared/typed-input';

export type FhirField = 'resourceType' | 'id' | 'versionId' | 'query' | 'body' | 'operation' | 'ifMatch' | 'ifNoneExist';
/** The fields read as text. */
type TextField = Exclude<FhirField, 'body' | 'query'> | 'partition';

/** The fields each interaction reads; the editor shows the same set. */
export const FIELDS_BY_INTERACTION: Readonly<Record<FhirInteraction, readonly FhirField[]>> = {
  read: ['resourceType', 'id'],
  vread: ['resourceType', 'id', 'versionId'],
  search: ['resourceType', 'query'],
  create: ['resourceType', 'body', 'ifNoneExist'],
  update: ['resourceType', 'id', 'query', 'body', 'ifMatch'],
  patch: ['resourceType', 'id', 'query', 'body', 'ifMatch'],
  delete: ['resourceType', 'id', 'query', 'ifMatch'],
  history: ['resourceType', 'id', 'query'],
  capabilities: [],
  batch: ['body'],
  transaction: ['body'],
  operation: ['resourceType', 'id', 'operation', 'query', 'body'],
};

const INTERACTIONS = Object.keys(FIELDS_BY_INTERACTION) as FhirInteraction[];
/** FIELDS_BY_INTERACTION as sets, built once rather than per message. */
const USES_BY_INTERACTION: ReadonlyMap<FhirInteraction, ReadonlySet<FhirField>> = new Map(
  INTERACTIONS.map((interaction) => [interaction, new Set(FIELDS_BY_INTERACTION[interaction])]),
);
/** Interactions that send a Prefer: return=... header when the node asks for one. */
const TAKES_PREFER_RETURN: ReadonlySet<FhirInteraction> = new Set(['create', 'update', 'patch', 'transaction', 'batch', 'operation']);
/**
 * Interactions that name their target by id, or by search criteria only when the node's
 * "conditional" option is ticked. Never inferred from a msg.query: a search node leaves one on
 * the message, and a following delete would then remove every match.
 */
const BY_ID_OR_CRITERIA: ReadonlySet<FhirInteraction> = new Set(['update', 'patch', 'delete']);
const PAGING_MODES: readonly PagingMode[] = ['first', 'merge', 'pages', 'resources'];
const PREFER_RETURN = ['minimal', 'representation', 'OperationOutcome'] as const;

/** The node's configuration as Node-RED stores it (flows.json). */
export interface FhirNodeDef extends NodeDef {
  config: string;
  interaction?: string;
  resourceType?: string;
  resourceTypeType?: string;
  /** The resource id ("id" itself is the node's own id in Node-RED). */
  resourceId?: string;
  resourceIdType?: string;
  versionId?: string;
  versionIdType?: string;
  query?: string;
  queryType?: string;
  body?: string;
  bodyType?: string;
  operation?: string;
  operationType?: string;
  ifMatch?: string;
  ifMatchType?: string;
  ifNoneExist?: string;
  ifNoneExistType?: string;
  partition?: string;
  partitionType?: string;
  conditional?: boolean;
  preferReturn?: string;
  searchVia?: string;
  operationMethod?: string;
  paging?: string;
  maxPages?: number | string;
  maxResources?: number | string;
}

export interface FhirNodeSettings {
  interaction: FhirInteraction;
  typed: Record<FhirField | 'partition', PreparedSetting>;
  /**
   * Text fields whose value is fixed at deploy, already checked (prepareSettings): `text` is what
   * each message would read. A field whose fixed value fails its check is not here, so that each
   * message fails with the same error as before.
   */
  fixedText?: Partial<Record<TextField, { text: string | undefined }>>;
  conditional: boolean;
  preferReturn?: FhirRequest['preferReturn'];
  searchVia: 'GET' | 'POST';
  operationMethod: 'GET' | 'POST';
  paging: PagingMode;
  maxPages?: number;
  maxResources?: number;
}

function typed(value: string | undefined, type: string | undefined, fallbackType: string, fallbackValue = ''): TypedSetting {
  return { value: value ?? fallbackValue, type: type || fallbackType };
}

function configError(setting: string, problem: string): CaraError {
  return new CaraError('CARA_CONFIG', `the node's ${setting} setting ${problem}`, { property: setting });
}

function positiveInteger(value: number | string | undefined, setting: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw configError(setting, `"${String(value)}" is not valid; expected a whole number of at least 1`);
  return n;
}

/** Deploy-time reading of the node's settings; a CaraError (CARA_CONFIG) when one is unusable. */
export function settingsFromDef(def: FhirNodeDef): FhirNodeSettings {
  const interaction = (def.interaction || 'read') as FhirInteraction;
  if (!INTERACTIONS.includes(interaction)) throw configError('interaction', `"${def.interaction}" is unknown; expected one of ${INTERACTIONS.join(', ')}`);
  const paging = (def.paging || 'first') as PagingMode;
  if (!PAGING_MODES.includes(paging)) throw configError('paging', `"${def.paging}" is unknown; expected one of ${PAGING_MODES.join(', ')}`);
  const preferReturn = def.preferReturn || undefined;
  if (preferReturn !== undefined && !(PREFER_RETURN as readonly string[]).includes(preferReturn)) {
    throw configError('preferReturn', `"${preferReturn}" is unknown; expected one of ${PREFER_RETURN.join(', ')}`);
  }
  return {
    interaction,
    typed: {
      resourceType: typed(def.resourceType, def.resourceTypeType, 'str'),
      id: typed(def.resourceId, def.resourceIdType, 'str'),
      versionId: typed(def.versionId, def.versionIdType, 'str'),
      query: typed(def.query, def.queryType, 'str'),
      body: typed(def.body, def.bodyType, 'msg', 'payload'),
      operation: typed(def.operation, def.operationType, 'str'),
      ifMatch: typed(def.ifMatch, def.ifMatchType, 'str'),
      ifNoneExist: typed(def.ifNoneExist, def.ifNoneExistType, 'str'),
      partition: typed(def.partition, def.partitionType, 'msg', 'partition'),
    },
    conditional: def.conditional === true,
    preferReturn: preferReturn as FhirRequest['preferReturn'],
    searchVia: def.searchVia === 'POST' ? 'POST' : 'GET',
    operationMethod: def.operationMethod === 'GET' ? 'GET' : 'POST',
    paging,
    maxPages: positiveInteger(def.maxPages, 'maxPages'),
    maxResources: positiveInteger(def.maxResources, 'maxResources'),
  };
}

/** How the editor and the status name what the node does, e.g. `search Observation`. */
export function describeRequest(settings: FhirNodeSettings): string {
  const { resourceType, operation } = settings.typed;
  const parts: string[] = [settings.interaction];
  if (settings.interaction === 'operation' && operation.type === 'str' && operation.value) parts.push(operation.value);
  if (FIELDS_BY_INTERACTION[settings.interaction].includes('resourceType') && resourceType.type === 'str' && resourceType.value) {
    parts.push(resourceType.value);
  }
  return parts.join(' ');
}

/**
 * Deploy-time evaluation of the settings that cannot change while the flow runs ('str', 'num',
 * 'bool', 'json', 'env'), checked once as each message would check them; msg, flow, global and
 * JSONata settings stay per message.
 */
export function prepareSettings(RED: NodeAPI, node: Node, settings: FhirNodeSettings): FhirNodeSettings {
  const typed = Object.fromEntries(
    Object.entries(settings.typed).map(([field, setting]) => [field, prepareSetting(RED, node, setting)]),
  ) as FhirNodeSettings['typed'];
  const fixedText: NonNullable<FhirNodeSettings['fixedText']> = {};
  for (const field of Object.keys(TEXT_CHECKS) as TextField[]) {
    const setting = typed[field];
    // Only a value set in the node is read from it; an empty setting falls back to msg.<field>.
    if (!setting.fixed || setting.value === '') continue;
    try {
      fixedText[field] = { text: checkText(field, setting, setting.fixed.value) };
    } catch {
      // Left to each message, which then fails with this error.
    }
  }
  return { ...settings, typed, fixedText };
}

/** Where a value was read from, in the words of the flow author. */
function sourceOf(setting: TypedSetting, conventional: string): string {
  if (setting.type === 'msg' && setting.value !== '') return `msg.${setting.value}`;
  if (setting.value !== '') return `the node's ${conventional} setting`;
  return `msg.${conventional}`;
}

function absent(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

type Validator = (value: unknown, property: string) => string;

/** The library's own check of each text field (the one FhirClient repeats); none for the ETag and criteria. */
const TEXT_CHECKS: Readonly<Record<TextField, Validator | undefined>> = {
  partition: validatePartition,
  resourceType: validateResourceType,
  id: validateId,
  versionId: validateVersionId,
  operation: normalizeOperation,
  ifMatch: undefined,
  ifNoneExist: undefined,
};

/** A text field's value, checked and told where it came from; undefined when absent. */
function checkText(field: TextField, setting: TypedSetting, value: unknown): string | undefined {
  if (absent(value)) return undefined;
  const where = sourceOf(setting, field);
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string') throw inputError(where, `is a ${typeof value}`, 'a text');
  const validate = TEXT_CHECKS[field];
  return validate ? validate(text, where) : text.trim();
}

/** The body's default source. */
const PAYLOAD: TypedSetting = { type: 'msg', value: 'payload' };
const LOOKS_LIKE_JSON = /^\s*[[{]/;

class MessageReader {
  readonly warned: Set<string>;
  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    private readonly msg: NodeMessage,
    private readonly settings: FhirNodeSettings,
    warned: Set<string>,
  ) {
    this.warned = warned;
  }

  /**
   * A string field: node setting, else the conventional msg property; undefined when absent.
   * Checked with the library's own check (TEXT_CHECKS), told where the value came from.
   * Synchronous unless the setting is read from a context store or JSONata (then a Promise).
   */
  text(field: TextField): string | undefined | Promise<string | undefined> {
    const setting = this.settings.typed[field];
    const value = resolveSettingNow(this.RED, this.node, this.msg, setting, field, this.warned);
    const fixed = this.settings.fixedText?.[field];
    // resolveSettingNow still ran for a fixed value: it warns when msg.<field> tries to override it.
    if (fixed) return fixed.text;
    if (value instanceof Promise) return value.then((v: unknown) => checkText(field, setting, v));
    return checkText(field, setting, value);
  }

  async query(): Promise<FhirQuery | undefined> {
    const setting = this.settings.typed.query;
    const value = await resolveSettingNow(this.RED, this.node, this.msg, setting, 'query', this.warned);
    if (absent(value)) return undefined;
    return checkQuery(value, sourceOf(setting, 'query'));
  }

  /** The body defaults to msg.payload; it is the data, so a node setting does not warn about msg.payload. */
  async body(): Promise<unknown> {
    const setting = this.settings.typed.body;
    const effective = setting.value === '' && setting.type !== 'json' ? PAYLOAD : setting;
    const value = await evaluateTypedNow(this.RED, this.node, this.msg, effective);
    if (typeof value === 'string' && LOOKS_LIKE_JSON.test(value)) {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        throw inputError(sourceOf(effective, 'body'), 'is text that is not valid JSON', 'a FHIR resource as an object or JSON text');
      }
    }
    return value;
  }

  trace(name: 'traceparent' | 'tracestate'): string | undefined {
    const direct = this.msg[name];
    const headers = this.msg.headers as Record<string, unknown> | undefined;
    const value = direct ?? (headers && typeof headers === 'object' ? headers[name] : undefined);
    return typeof value === 'string' && value !== '' ? value : undefined;
  }
}

const LEADING_QUESTION_MARK = /^\?/;

function shortValue(value: string): string {
  return value.length > 80 ? `${value.slice(0, 79)}…` : value;
}

function isPrimitive(value: unknown): value is FhirQueryValue {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function checkQuery(value: unknown, where: string): FhirQuery {
  if (typeof value === 'string') return value.trim().replace(LEADING_QUESTION_MARK, '');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw inputError(where, `is a ${Array.isArray(value) ? 'array' : typeof value}`, 'a query string such as "status=active&_count=50" or an object of parameters');
  }
  const query: Record<string, FhirQueryValue | FhirQueryValue[]> = {};
  for (const [name, v] of Object.entries(value)) {
    if (isPrimitive(v) || (Array.isArray(v) && v.every(isPrimitive))) query[name] = v as FhirQueryValue | FhirQueryValue[];
    else if (v !== undefined && v !== null) {
      throw inputError(`${where}.${name}`, 'is neither a text, a number, a boolean nor an array of them', 'a search parameter value');
    }
  }
  return query;
}

function resourceTypeOf(body: unknown): string | undefined {
  const type = (body as { resourceType?: unknown } | null)?.resourceType;
  return typeof body === 'object' && typeof type === 'string' ? type : undefined;
}

function idOf(body: unknown): string | undefined {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof body === 'object' && typeof id === 'string' ? id : undefined;
}


/** Builds the one FhirRequest for this message; throws CaraError (CARA_INPUT) and sends nothing when a value is wrong. */
export async function buildFhirRequest(
  RED: NodeAPI,
  node: Node,
  msg: NodeMessage,
  settings: FhirNodeSettings,
  warned: Set<string>,
): Promise<FhirRequest> {
  const { interaction } = settings;
  const uses = USES_BY_INTERACTION.get(interaction) ?? new Set(FIELDS_BY_INTERACTION[interaction]);
  const read = new MessageReader(RED, node, msg, settings, warned);

  const request: FhirRequest = { interaction, partition: await partitionOf(read, msg, interaction) };
  const wantsBody = uses.has('body') && !(interaction === 'operation' && settings.operationMethod === 'GET');
  let body = wantsBody ? await read.body() : undefined;
  // An operation's body is optional: only an object (Parameters, a resource) is sent, so that an
  // inject node's timestamp in msg.payload does not become one.
  if (interaction === 'operation' && (typeof body !== 'object' || body === null || Array.isArray(body))) body = undefined;

  if (uses.has('resourceType')) request.resourceType = await read.text('resourceType');
  if (uses.has('id')) request.id = await read.text('id');
  if (uses.has('versionId')) request.versionId = await read.text('versionId');
  if (uses.has('query') && (settings.conditional || !BY_ID_OR_CRITERIA.has(interaction))) request.query = await read.query();
  if (uses.has('operation')) request.operation = await read.text('operation');
  if (uses.has('ifMatch')) request.ifMatch = await read.text('ifMatch');
  if (uses.has('ifNoneExist')) request.ifNoneExist = (await read.text('ifNoneExist'))?.replace(LEADING_QUESTION_MARK, '');
  if (body !== undefined) request.body = body;

  completeFromBody(request, body, settings);
  checkRequired(request, settings);

  if (settings.preferReturn && TAKES_PREFER_RETURN.has(interaction)) {
    request.preferReturn = settings.preferReturn;
  }
  if (interaction === 'search') request.searchVia = settings.searchVia;
  if (interaction === 'operation') request.operationMethod = settings.operationMethod;
  if (interaction === 'search' || interaction === 'history') {
    request.paging = { mode: settings.paging };
    if (settings.maxPages !== undefined) request.paging.maxPages = settings.maxPages;
    if (settings.maxResources !== undefined) request.paging.maxResources = settings.maxResources;
  }
  const traceparent = read.trace('traceparent');
  if (traceparent) {
    request.traceparent = traceparent;
    const tracestate = read.trace('tracestate');
    if (tracestate) request.tracestate = tracestate;
  }
  return request;
}

/** msg.partition (or the node's setting), else the partition of msg.accountUrn. */
async function partitionOf(read: MessageReader, msg: NodeMessage, interaction: FhirInteraction): Promise<string> {
  const partition = await read.text('partition');
  if (partition) return partition;
  const accountUrn = msg.accountUrn;
  if (typeof accountUrn === 'string' && accountUrn !== '') {
    try {
      return partitionFromAccountUrn(accountUrn);
    } catch {
      throw inputError('msg.accountUrn', `"${shortValue(accountUrn)}" does not name a vault partition`, '"urn:cara:account:<name>" with a name of letters, digits, "_" or "-"');
    }
  }
  // The server's conformance statement lives outside the patients' partitions.
  if (interaction === 'capabilities') return 'DEFAULT';
  throw inputError('msg.partition', 'is missing (and there is no msg.accountUrn)', 'the vault partition, e.g. from a cara-resolve-account node');
}

/** create/update take the type (and update the id) from the resource itself when not given. */
function completeFromBody(request: FhirRequest, body: unknown, settings: FhirNodeSettings): void {
  const { interaction } = settings;
  if (interaction !== 'create' && interaction !== 'update') return;
  const bodyType = resourceTypeOf(body);
  if (bodyType !== undefined && request.resourceType !== undefined && bodyType !== request.resourceType) {
    throw inputError('msg.payload', `is a ${bodyType} but the request is for ${request.resourceType}`, `a ${request.resourceType} resource`);
  }
  request.resourceType ??= bodyType && RESOURCE_TYPE_PATTERN.test(bodyType) ? bodyType : undefined;
  if (interaction === 'update' && request.id === undefined && !settings.conditional) {
    const bodyId = idOf(body);
    if (bodyId !== undefined) {
      request.id = validateId(bodyId, 'msg.payload.id');
    }
  }
}

function checkRequired(request: FhirRequest, settings: FhirNodeSettings): void {
  const { interaction } = settings;
  const need = (value: unknown, property: string, expected: string): void => {
    if (absent(value)) throw inputError(property, 'is missing', `${expected} for a ${interaction}`);
  };
  switch (interaction) {
    case 'read':
    case 'vread':
      need(request.resourceType, 'msg.resourceType', 'a resource type');
      need(request.id, 'msg.id', 'a resource id');
      if (interaction === 'vread') need(request.versionId, 'msg.versionId', 'a version id');
      break;
    case 'create':
      need(request.body, 'msg.payload', 'a resource');
      need(request.resourceType, 'msg.resourceType', 'a resource type');
      break;
    case 'update':
    case 'patch':
    case 'delete': {
      need(request.resourceType, 'msg.resourceType', 'a resource type');
      if (interaction !== 'delete') need(request.body, 'msg.payload', interaction === 'patch' ? 'a JSON Patch array or FHIRPath Patch Parameters' : 'a resource');
      // Conditional only when the node says so (see BY_ID_OR_CRITERIA); the criteria were not even read otherwise.
      if (settings.conditional) {
        need(request.query, 'msg.query', 'search criteria (conditional)');
        request.conditional = true;
        delete request.id;
      } else {
        if (request.id === undefined) {
          throw inputError('msg.id', 'is missing', `a resource id for a ${interaction}; to ${interaction} by search criteria instead, tick the node's "Conditional" option (a msg.query alone is not used)`);
        }
        delete request.query;
      }
      break;
    }
    case 'history':
    case 'operation':
      if (request.id !== undefined && request.resourceType === undefined) {
        throw inputError('msg.resourceType', 'is missing', `a resource type: an id alone does not name a resource for a ${interaction}`);
      }
      if (interaction === 'operation') need(request.operation, 'msg.operation', 'an operation name');
      break;
    case 'batch':
    case 'transaction': {
      need(request.body, 'msg.payload', `a Bundle of type ${interaction}`);
      const bundle = request.body as { resourceType?: unknown; type?: unknown };
      if (typeof bundle !== 'object' || bundle === null || bundle.resourceType !== 'Bundle') {
        throw inputError('msg.payload', 'is not a Bundle', `a Bundle of type ${interaction}`);
      }
      if (bundle.type !== interaction) {
        throw inputError('msg.payload.type', `is "${String(bundle.type)}"`, `"${interaction}" (the node does a ${interaction})`);
      }
      break;
    }
    case 'search':
    case 'capabilities':
      break;
  }
}
