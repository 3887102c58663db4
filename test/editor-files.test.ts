/**
 * The editor side of every node (nodes/<type>/<type>.html), run in a vm with a small RED stub
 * and a fake jQuery built from the dialog's own template: the script compiles and registers its
 * type, every text it uses exists in its own en-US catalogue, each `validate` rejects a wrong
 * value and accepts a good one the way Node-RED reads the answer, the dialogs show the inputs of
 * the chosen interaction / certificate source only, and the help follows the style guide.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext, Script } from 'node:vm';
import { FIELDS_BY_INTERACTION, type FhirField } from '../nodes/cara-fhir/request-builder';

const NODES = join(__dirname, '..', 'nodes');
const TYPES = ['cara-config', 'cara-token', 'cara-resolve-account', 'cara-fhir'] as const;
type NodeType = (typeof TYPES)[number];

// ---------------------------------------------------------------- the files

type Catalogue = { [key: string]: string | Catalogue };

function htmlOf(type: NodeType): string {
  return readFileSync(join(NODES, type, `${type}.html`), 'utf8');
}

function section(html: string, pattern: RegExp, what: string): string {
  const found = pattern.exec(html)?.[1];
  assert.ok(found, what);
  return found;
}

const editorScript = (html: string): string => section(html, /<script type="text\/javascript">([\s\S]*?)<\/script>/, 'an editor script');
const template = (html: string, type: string): string =>
  section(html, new RegExp(`<script type="text/html" data-template-name="${type}">([\\s\\S]*?)</script>`), 'a dialog template');
const help = (html: string, type: string): string =>
  section(html, new RegExp(`<script type="text/html" data-help-name="${type}">([\\s\\S]*?)</script>`), 'a help text');

/** node._ as the editor has it: the node's OWN catalogue only (Node-RED namespaces them per node set). */
function translatorFor(type: NodeType): { t: (key: string, params?: Record<string, unknown>) => string; missing: Set<string> } {
  const catalogue = JSON.parse(readFileSync(join(NODES, type, 'locales', 'en-US', `${type}.json`), 'utf8')) as Catalogue;
  const missing = new Set<string>();
  const t = (key: string, params: Record<string, unknown> = {}): string => {
    let entry: string | Catalogue | undefined = catalogue;
    for (const part of key.split('.')) entry = typeof entry === 'object' ? entry[part] : undefined;
    if (typeof entry !== 'string') {
      missing.add(key);
      return key;
    }
    return entry.replace(/__([A-Za-z0-9_]+)__/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
  };
  return { t, missing };
}

// ---------------------------------------------------------------- a fake jQuery over the template

class FakeElement {
  value: unknown;
  visible = true;
  shown = '';
  readonly handlers = new Map<string, Array<(this: FakeElement) => void>>();
  readonly store = new Map<string, unknown>();
  readonly attributes = new Map<string, string>();
  readonly children: FakeElement[] = [];
  constructor(readonly id: string | undefined, readonly classes: string[]) {}
}

/** A jQuery-like set: the calls the editor scripts make, recorded on FakeElements. */
class FakeSet {
  constructor(private readonly items: FakeElement[]) {}
  get length(): number {
    return this.items.length;
  }
  val(): unknown;
  val(value: unknown): this;
  val(value?: unknown): unknown {
    if (arguments.length === 0) return this.items[0]?.value;
    for (const item of this.items) item.value = value;
    return this;
  }
  on(events: string, handler: (this: FakeElement) => void): this {
    for (const item of this.items) {
      for (const name of events.split(/\s+/)) item.handlers.set(name, [...(item.handlers.get(name) ?? []), handler]);
    }
    return this;
  }
  trigger(name: string): this {
    for (const item of this.items) for (const handler of item.handlers.get(name) ?? []) handler.call(item);
    return this;
  }
  toggle(visible?: boolean): this {
    for (const item of this.items) item.visible = visible === undefined ? !item.visible : !!visible;
    return this;
  }
  show(): this {
    return this.toggle(true);
  }
  hide(): this {
    return this.toggle(false);
  }
  text(value?: unknown): unknown {
    if (arguments.length === 0) return this.items.map((i) => [i.shown, ...i.children.map((c) => c.shown)].join('')).join('');
    for (const item of this.items) item.shown = String(value);
    return this;
  }
  data(key: string, value?: unknown): unknown {
    if (arguments.length === 1) return this.items[0]?.store.get(key);
    for (const item of this.items) item.store.set(key, value);
    return this;
  }
  removeData(key: string): this {
    for (const item of this.items) item.store.delete(key);
    return this;
  }
  attr(name: string, value?: string): unknown {
    if (arguments.length === 1) return this.items[0]?.attributes.get(name);
    for (const item of this.items) item.attributes.set(name, String(value));
    return this;
  }
  empty(): this {
    for (const item of this.items) {
      item.children.length = 0;
      item.shown = '';
    }
    return this;
  }
  appendTo(target: FakeSet): this {
    for (const parent of target.items) parent.children.push(...this.items);
    return this;
  }
  lines(): string[] {
    return this.items.flatMap((i) => i.children.map((c) => c.shown));
  }
  /** Only `checked` is read back: the value Node-RED put into a checkbox from the node. */
  prop(name: string): unknown;
  prop(name?: string, value?: unknown): this;
  prop(name?: string, value?: unknown): unknown {
    if (arguments.length === 1) return name === 'checked' ? Boolean(this.items[0]?.value) : undefined;
    if (name === 'checked') for (const item of this.items) item.value = Boolean(value);
    return this;
  }
  css(): this {
    return this;
  }
  typedInput(): this {
    return this;
  }
}

interface AjaxCall {
  url: string;
  type?: string;
  data?: string;
}

/** The dialog's elements (from its template) and a `$` over them; closed = no element exists. */
class FakeDialog {
  readonly elements: FakeElement[] = [];
  readonly ajaxCalls: Array<{ options: AjaxCall; done(result: unknown): void }> = [];
  constructor(templateHtml = '') {
    for (const [, attrs] of templateHtml.matchAll(/<[a-z]+\b([^>]*)>/g)) {
      const id = /\bid="([^"]+)"/.exec(attrs ?? '')?.[1];
      const classes = (/\bclass="([^"]+)"/.exec(attrs ?? '')?.[1] ?? '').split(/\s+/).filter(Boolean);
      if (id || classes.length > 0) this.elements.push(new FakeElement(id, classes));
    }
  }
  byId(id: string): FakeElement {
    const found = this.elements.find((e) => e.id === id);
    assert.ok(found, `#${id} in the dialog`);
    return found;
  }
  /** Whether every element with this class is visible. */
  visible(className: string): boolean {
    const matching = this.elements.filter((e) => e.classes.includes(className));
    assert.ok(matching.length > 0, `.${className} in the dialog`);
    return matching.every((e) => e.visible);
  }
  /** Whether some element with this class is visible. */
  someVisible(className: string): boolean {
    return this.elements.some((e) => e.classes.includes(className) && e.visible);
  }
  readonly $ = Object.assign(
    (selector: unknown): FakeSet => {
      if (selector instanceof FakeElement) return new FakeSet([selector]);
      if (typeof selector !== 'string') return new FakeSet([]);
      if (selector.startsWith('<')) return new FakeSet([new FakeElement(undefined, [])]);
      const found = selector.split(',').flatMap((one) => {
        const s = one.trim();
        if (s.startsWith('#')) return this.elements.filter((e) => e.id === s.slice(1));
        if (s.startsWith('.')) return this.elements.filter((e) => e.classes.includes(s.slice(1)));
        return [];
      });
      return new FakeSet(found);
    },
    {
      getJSON: (): void => undefined,
      ajax: (options: AjaxCall) => {
        const call = { options, done: (_result: unknown): void => undefined };
        this.ajaxCalls.push(call);
        const promise = {
          done(callback: (result: unknown) => void) {
            call.done = callback;
            return promise;
          },
          fail: () => promise,
          always: () => promise,
        };
        return promise;
      },
    },
  );
}

// ---------------------------------------------------------------- running an editor script

/** The definition object a node's editor script registers. */
interface Definition {
  category: string;
  color?: string;
  icon?: string;
  defaults: Record<string, { value: unknown; required?: boolean; type?: string; validate?: (this: object, v: unknown, opt: object) => unknown }>;
  credentials?: Record<string, { type: string }>;
  _: (key: string, params?: Record<string, unknown>) => string;
  paletteLabel?: string | ((this: Definition) => string);
  label(this: object): string;
  inputLabels?: (this: object, index: number) => string;
  outputLabels?: (this: object, index: number) => string;
  oneditprepare?: (this: object) => void;
}

interface Loaded {
  definition: Definition;
  missing: Set<string>;
  /** A node as the editor has it: the defaults' values, `_`, any overrides. */
  node(overrides?: Record<string, unknown>): Record<string, unknown>;
}

/** Runs `type`'s editor script against `dialog` (closed by default: validators read the node). */
function load(type: NodeType, dialog = new FakeDialog(), knownConfigNodes: string[] = []): Loaded {
  const { t, missing } = translatorFor(type);
  const registered: Record<string, Definition> = {};
  const RED = {
    _: t,
    nodes: {
      registerType(name: string, definition: Definition) {
        // The editor gives every definition a translator in its node set's namespace.
        definition._ = t;
        registered[name] = definition;
      },
      node: (id: string) => (knownConfigNodes.includes(id) ? { id } : null),
      getType: (name: string) => registered[name],
    },
  };
  runInNewContext(editorScript(htmlOf(type)), { RED, $: dialog.$, FileReader: class {}, btoa }, { filename: `${type}.html` });
  const definition = registered[type];
  assert.ok(definition, `${type}.html registers ${type}`);
  const node = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    const values = Object.fromEntries(Object.entries(definition.defaults).map(([name, d]) => [name, d.value]));
    return { id: 'n1', type, _: t, ...values, ...overrides };
  };
  return { definition, missing, node };
}

/** Node-RED's reading of a validator's answer (validateNodeProperty): true, or the reason. */
function judge(definition: Definition, property: string, node: object, value: unknown): true | string | false {
  const validate = definition.defaults[property]?.validate;
  assert.ok(validate, `${property} has a validate function`);
  const answer = validate.call(node, value, {});
  if (validate.length === 2 && typeof answer === 'string') return answer;
  return answer ? true : false;
}

/** Opens a dialog for `node`: its template's inputs hold the node's values, as Node-RED fills them. */
function openDialog(type: NodeType, values: Record<string, unknown>, credentials: Record<string, unknown> = {}): { dialog: FakeDialog; loaded: Loaded; node: Record<string, unknown> } {
  const dialog = new FakeDialog(template(htmlOf(type), type));
  const loaded = load(type, dialog);
  const node = loaded.node(values);
  const prefix = loaded.definition.category === 'config' ? 'node-config-input-' : 'node-input-';
  for (const element of dialog.elements) {
    if (!element.id?.startsWith(prefix)) continue;
    const name = element.id.slice(prefix.length);
    if (name in node) element.value = node[name];
    if (name in credentials) element.value = credentials[name];
  }
  node.credentials = credentials;
  loaded.definition.oneditprepare?.call(node);
  return { dialog, loaded, node };
}

// ---------------------------------------------------------------- validation cases

interface ValidationCase {
  property: string;
  /** Other settings of the node, e.g. the TypedInput type or the interaction. */
  node?: Record<string, unknown>;
  good: unknown[];
  bad: unknown[];
}

const VALIDATION: Record<NodeType, ValidationCase[]> = {
  'cara-config': [
    { property: 'clientId', good: ['tcu-bestclinic/scp-importer'], bad: ['', '   ', 'tcu bestclinic'] },
    { property: 'scope', good: ['', 'ns:cara:authx.Reader ns:cara:scp.Contributor'], bad: ['ns:cara:"x"', 'ns:cara:a\\b'] },
    { property: 'sandboxPort', node: { environment: 'sandbox' }, good: [8443, '9443', ''], bad: [0, 70000, 'abc', 1.5] },
    { property: 'issuer', node: { environment: 'custom' }, good: ['https://iam.example/realms/cara'], bad: ['http://iam.example/realms/cara', 'iam.example', ''] },
    { property: 'issuer', node: { environment: 'validation' }, good: ['', 'http://left-over.example'], bad: [] },
    { property: 'issuer', node: { environment: 'custom', tokenEndpoint: 'https://iam.example/token' }, good: [''], bad: [] },
    { property: 'tokenEndpoint', node: { environment: 'custom' }, good: ['', 'https://iam.example/realms/cara/protocol/openid-connect/token'], bad: ['http://iam.example/token', 'https://user:pw@iam.example/token'] },
    { property: 'introspectionEndpoint', node: { environment: 'custom' }, good: ['', 'https://iam.example/introspect'], bad: ['ftp://iam.example/x'] },
    { property: 'jwksUri', node: { environment: 'custom' }, good: ['', 'https://iam.example/certs'], bad: ['https://iam.example/certs?x=1'] },
    { property: 'aimUrl', node: { environment: 'custom' }, good: ['', 'https://aim.example'], bad: ['http://aim.example'] },
    { property: 'fhirBaseUrl', node: { environment: 'custom' }, good: ['', 'https://fhir.example/fhir'], bad: ['https://fhir.example/fhir#top'] },
    { property: 'certificateSource', good: ['pem', 'pem-file', 'pkcs12', 'pkcs12-file', 'tls-config'], bad: ['', 'jks'] },
    { property: 'certPath', node: { certificateSource: 'pem-file' }, good: ['/etc/cara/client.crt'], bad: ['', '  '] },
    { property: 'certPath', node: { certificateSource: 'pem' }, good: [''], bad: [] },
    { property: 'keyPath', node: { certificateSource: 'pem-file' }, good: ['/etc/cara/client.key'], bad: [''] },
    { property: 'pfxPath', node: { certificateSource: 'pkcs12-file' }, good: ['/etc/cara/client.p12'], bad: [''] },
    { property: 'tlsConfig', node: { certificateSource: 'tls-config' }, good: ['tls-1'], bad: ['', '_ADD_', 'tls-unknown'] },
    { property: 'tlsConfig', node: { certificateSource: 'pem' }, good: [''], bad: [] },
    { property: 'timeout', good: ['', 30, '0.5', 600], bad: [0, -1, 601, 'soon'] },
  ],
  'cara-token': [
    { property: 'token', node: { action: 'introspect', tokenType: 'str' }, good: ['eyJhbGciOiJSUzI1NiJ9.e30.sig'], bad: ['', 'two words'] },
    { property: 'token', node: { action: 'introspect', tokenType: 'msg' }, good: ['token'], bad: [] },
    { property: 'token', node: { action: 'get', tokenType: 'str' }, good: [''], bad: [] },
    { property: 'property', good: ['payload', 'cara.token'], bad: ['', 'my token', '1x'] },
  ],
  'cara-resolve-account': [
    { property: 'mpiId', node: { mpiIdType: 'str' }, good: ['urn:cara:mpi_id:2.16.756.5.30.1.191.1.0.2.1/123456', '1.1.1.99.1/e2d9dbec-9f49-4944-8b6b-790e88d2bd0f'], bad: ['', '123456', 'urn:cara:mpi_id:abc/1', '2.16.756/12 34'] },
    { property: 'mpiId', node: { mpiIdType: 'msg' }, good: ['payload', 'patient.mpiId'], bad: ['', 'a b'] },
    { property: 'mpiId', node: { mpiIdType: 'jsonata' }, good: ['payload.id & ""'], bad: [] },
    { property: 'accountUrnProperty', good: ['accountUrn'], bad: ['', 'account urn'] },
    { property: 'partitionProperty', good: ['partition'], bad: ['', '9lives'] },
    { property: 'cacheTtl', good: ['', 0, 300, '1.5'], bad: [-1, 'long', ' '] },
  ],
  'cara-fhir': [
    { property: 'interaction', good: Object.keys(FIELDS_BY_INTERACTION), bad: ['', 'fetch'] },
    { property: 'partition', node: { partitionType: 'str' }, good: ['', '19776259-4d3e-4a1d-85e3-f1c6e48ec7f1', 'DEFAULT'], bad: ['urn:cara:account:x', 'a/b', 'a b'] },
    { property: 'partition', node: { partitionType: 'msg' }, good: ['partition'], bad: [] },
    { property: 'resourceType', node: { interaction: 'search', resourceTypeType: 'str' }, good: ['', 'Observation'], bad: ['observation', 'Observation/1', 'Care Plan'] },
    { property: 'resourceType', node: { interaction: 'batch', resourceTypeType: 'str' }, good: ['not used here'], bad: [] },
    { property: 'resourceType', node: { interaction: 'read', resourceTypeType: 'env' }, good: ['FHIR_TYPE'], bad: [] },
    { property: 'resourceId', node: { interaction: 'read', resourceIdType: 'str' }, good: ['', 'abc-123.4'], bad: ['a/b', 'a?b', 'x'.repeat(65)] },
    { property: 'versionId', node: { interaction: 'vread', versionIdType: 'str' }, good: ['', '3'], bad: ['3 4', 'W/"3"'] },
    { property: 'operation', node: { interaction: 'operation', operationType: 'str' }, good: ['', '$everything', 'validate'], bad: ['$every thing', '$$x', '1x'] },
    { property: 'query', node: { interaction: 'search', queryType: 'json' }, good: ['', '{"status":"active","_count":50}'], bad: ['{status:active}', '[1]', '"x"'] },
    { property: 'query', node: { interaction: 'search', queryType: 'str' }, good: ['status=active&_count=50'], bad: [] },
    { property: 'body', node: { interaction: 'create', bodyType: 'json' }, good: ['{"resourceType":"Observation"}'], bad: ['{', ''] },
    { property: 'body', node: { interaction: 'read', bodyType: 'json' }, good: ['{'], bad: [] },
    { property: 'body', node: { interaction: 'operation', operationMethod: 'GET', bodyType: 'json' }, good: ['{'], bad: [] },
    { property: 'maxPages', good: ['', 1, '100'], bad: [0, '1.5', 'many'] },
    { property: 'maxResources', good: ['', 10000], bad: [-5, '2.5'] },
  ],
};

// ---------------------------------------------------------------- the tests

describe('editor files (nodes/*/*.html)', function () {
  for (const type of TYPES) {
    describe(type, function () {
      const html = htmlOf(type);

      it('compiles, registers its type in the right category with colour and icon, and names its template and help', function () {
        new Script(editorScript(html), { filename: `${type}.html` });
        const { definition } = load(type);
        if (type === 'cara-config') {
          assert.equal(definition.category, 'config', 'a configuration node');
        } else {
          assert.equal(definition.category, 'CARA');
          assert.equal(definition.color, '#5DB7E8');
          assert.equal(definition.icon, 'cara.svg');
        }
        template(html, type);
        help(html, type);
      });

      it('uses only texts that exist in its own en-US catalogue', function () {
        const loaded = load(type);
        const keys = [
          ...[...html.matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g)].map((m) => m[1] ?? ''),
          ...[...html.matchAll(/\b_\(\s*(['"])([a-z-]+\.[A-Za-z0-9.-]+)\1\s*[,)]/g)].map((m) => m[2] ?? ''),
        ];
        assert.ok(keys.length > 5, 'texts come from the catalogue');
        for (const key of keys) assert.ok(key.startsWith(`${type}.`), `${key} is in ${type}'s namespace`);
        for (const key of keys) loaded.definition._(key);
        assert.deepEqual([...loaded.missing], []);
      });

      it('names itself in the palette and on the canvas by what it does', function () {
        const { definition, node, missing } = load(type);
        const label = (overrides: Record<string, unknown> = {}): string => definition.label.call(node(overrides));
        assert.equal(label({ name: 'my name' }), 'my name');
        if (type === 'cara-config') {
          assert.equal(label({ clientId: 'tcu-a/b', environment: 'integration' }), 'tcu-a/b · integration');
          return;
        }
        const palette = typeof definition.paletteLabel === 'function' ? definition.paletteLabel.call(definition) : definition.paletteLabel;
        assert.ok(palette && !palette.includes('.'), `palette label "${palette}"`);
        assert.ok(definition.inputLabels && definition.outputLabels, 'input and output labels');
        const input = definition.inputLabels.call(node(), 0);
        assert.ok(input && !input.startsWith(type), `input label "${input}"`);
        switch (type) {
          case 'cara-token':
            assert.equal(label(), 'get token');
            assert.equal(label({ action: 'introspect' }), 'introspect token');
            for (const action of ['get', 'renew', 'introspect', 'verify']) assert.ok(!label({ action }).includes('.'));
            assert.equal(definition.outputLabels.call(node({ action: 'renew' }), 0), 'renew token');
            break;
          case 'cara-resolve-account':
            assert.equal(label(), 'resolve MPI-ID');
            assert.equal(definition.outputLabels.call(node(), 0), 'resolved');
            assert.equal(definition.outputLabels.call(node(), 1), 'unknown patient');
            break;
          case 'cara-fhir':
            assert.equal(label({ interaction: 'search', resourceType: 'Observation' }), 'search Observation');
            assert.equal(label({ interaction: 'read', resourceType: 'Patient' }), 'read Patient');
            assert.equal(label({ interaction: 'read', resourceType: 'resourceType', resourceTypeType: 'msg' }), 'read');
            assert.equal(label({ interaction: 'operation', operation: '$everything', resourceType: 'Patient' }), 'operation $everything Patient');
            assert.equal(label({ interaction: 'batch', resourceType: 'Patient' }), 'batch');
            assert.equal(definition.outputLabels.call(node(), 0), 'response');
            break;
        }
        assert.deepEqual([...missing], []);
      });

      it('validates each checked setting: rejects a wrong value with a reason, accepts a good one', function () {
        const { definition, node, missing } = load(type, new FakeDialog(), ['tls-1']);
        const cases = VALIDATION[type];
        const checked = Object.keys(definition.defaults).filter((name) => definition.defaults[name]?.validate);
        assert.deepEqual([...new Set(cases.map((c) => c.property))].sort(), checked.sort(), 'every validate function has cases');
        for (const { property, node: settings, good, bad } of cases) {
          for (const value of good) {
            assert.equal(judge(definition, property, node(settings), value), true, `${property}=${JSON.stringify(value)} with ${JSON.stringify(settings ?? {})} is accepted`);
          }
          for (const value of bad) {
            const verdict = judge(definition, property, node(settings), value);
            assert.equal(typeof verdict, 'string', `${property}=${JSON.stringify(value)} with ${JSON.stringify(settings ?? {})} is refused with a reason`);
            assert.ok(!String(verdict).startsWith(type), `a translated reason, not the key ${String(verdict)}`);
          }
        }
        assert.deepEqual([...missing], []);
      });

      it('has help in the style guide\'s sections: intro, (Inputs, Outputs | Properties), Details, References', function () {
        const text = help(html, type);
        assert.match(text.trim(), /^<p>[^<]{20,}/, 'a one-line introduction first');
        const headings = [...text.matchAll(/<h3>([^<]+)<\/h3>/g)].map((m) => m[1]);
        const expected = type === 'cara-config' ? ['Properties', 'Details', 'References'] : ['Inputs', 'Outputs', 'Details', 'References'];
        assert.deepEqual(headings, expected);
        const part = (name: string): string => text.split(`<h3>${name}</h3>`)[1]?.split('<h3>')[0] ?? '';
        for (const name of expected.filter((h) => h === 'Inputs' || h === 'Outputs' || h === 'Properties')) {
          assert.match(part(name), /<dl class="message-properties">[\s\S]*<dt[^>]*>[\s\S]*<span class="property-type">/, `${name} lists properties with types`);
        }
        assert.match(part('References'), /<a href="https:\/\//, 'references link somewhere');
      });
    });
  }

  describe('cara-fhir dialog', function () {
    const fieldRows: Record<FhirField, string> = {
      resourceType: 'cara-fhir-row-resourceType',
      id: 'cara-fhir-row-id',
      versionId: 'cara-fhir-row-versionId',
      query: 'cara-fhir-row-query',
      body: 'cara-fhir-row-body',
      operation: 'cara-fhir-row-operation',
      ifMatch: 'cara-fhir-row-ifMatch',
      ifNoneExist: 'cara-fhir-row-ifNoneExist',
    };
    const shownFields = (dialog: FakeDialog): FhirField[] =>
      (Object.keys(fieldRows) as FhirField[]).filter((field) => dialog.visible(fieldRows[field]));

    const byCriteria = ['update', 'patch', 'delete'];
    for (const interaction of Object.keys(FIELDS_BY_INTERACTION) as Array<keyof typeof FIELDS_BY_INTERACTION>) {
      it(`shows exactly the fields ${interaction} reads (FIELDS_BY_INTERACTION)`, function () {
        const { dialog } = openDialog('cara-fhir', { interaction, conditional: true });
        assert.deepEqual(shownFields(dialog).sort(), [...FIELDS_BY_INTERACTION[interaction]].sort());
        assert.equal(dialog.someVisible('cara-fhir-row-paging'), interaction === 'search' || interaction === 'history');
        assert.equal(dialog.visible('cara-fhir-row-conditional'), ['update', 'patch', 'delete'].includes(interaction));
      });
    }

    it('shows the criteria of update, patch and delete only while "conditional" is ticked', function () {
      for (const interaction of byCriteria) {
        const { dialog } = openDialog('cara-fhir', { interaction, conditional: false });
        assert.equal(dialog.visible('cara-fhir-row-query'), false, `${interaction} by id has no criteria`);
        dialog.$('#node-input-conditional').prop('checked', true).trigger('change');
        assert.equal(dialog.visible('cara-fhir-row-query'), true, `${interaction} by criteria`);
      }
    });

    it('follows a change of interaction, of paging and of the operation method', function () {
      const { dialog } = openDialog('cara-fhir', { interaction: 'read' });
      const interaction = dialog.$('#node-input-interaction');
      interaction.val('transaction').trigger('change');
      assert.deepEqual(shownFields(dialog), ['body']);
      interaction.val('search').trigger('change');
      assert.equal(dialog.visible('cara-fhir-row-bounds'), false, 'no bounds for the first page only');
      dialog.$('#node-input-paging').val('merge').trigger('change');
      assert.equal(dialog.visible('cara-fhir-row-bounds'), true);
      interaction.val('operation').trigger('change');
      assert.ok(shownFields(dialog).includes('body'));
      dialog.$('#node-input-operationMethod').val('GET').trigger('change');
      assert.ok(!shownFields(dialog).includes('body'), 'an operation by GET has no body');
    });
  });

  describe('cara-config dialog', function () {
    const sources: Record<string, string[]> = {
      pem: ['cara-cert-pem', 'cara-cert-passphrase'],
      'pem-file': ['cara-cert-pem-file', 'cara-cert-passphrase'],
      pkcs12: ['cara-cert-pkcs12', 'cara-cert-passphrase'],
      'pkcs12-file': ['cara-cert-pkcs12-file', 'cara-cert-passphrase'],
      'tls-config': ['cara-cert-tls-config'],
    };
    const all = [...new Set(Object.values(sources).flat())];

    for (const [source, shown] of Object.entries(sources)) {
      it(`shows the certificate inputs of "${source}" only`, function () {
        const { dialog } = openDialog('cara-config', { certificateSource: source });
        for (const row of all) assert.equal(dialog.visible(row), shown.includes(row), `${row} for ${source}`);
      });
    }

    it('lets URLs be typed only for "custom" and shows the sandbox port only for the sandbox', function () {
      const { dialog } = openDialog('cara-config', { environment: 'validation' });
      assert.equal(dialog.visible('cara-custom-only'), false);
      assert.equal(dialog.visible('cara-sandbox-row'), false);
      dialog.$('#node-config-input-environment').val('sandbox').trigger('change');
      assert.equal(dialog.visible('cara-sandbox-row'), true);
      dialog.$('#node-config-input-environment').val('custom').trigger('change');
      assert.equal(dialog.visible('cara-custom-only'), true);
    });

    it('tests the connection with the dialog\'s current values and shows the answer', function () {
      const { dialog } = openDialog(
        'cara-config',
        { environment: 'custom', issuer: 'https://iam.example/realms/cara', clientId: 'tcu-a/b', certificateSource: 'pkcs12', tlsConfig: '_ADD_' },
        { pfx: '__PWRD__', passphrase: 'typed-now', caPem: '-----BEGIN CERTIFICATE-----' },
      );
      dialog.$('#node-config-input-clientId').val('tcu-a/typed');
      dialog.$('#cara-config-test-connection').trigger('click');
      const call = dialog.ajaxCalls[0];
      assert.ok(call, 'one request');
      assert.equal(call.options.url, 'cara-config/n1/test');
      assert.equal(call.options.type, 'POST');
      const body = JSON.parse(call.options.data ?? '{}') as { settings: Record<string, string>; credentials: Record<string, string> };
      assert.equal(body.settings.clientId, 'tcu-a/typed', 'the value typed, not the saved one');
      assert.equal(body.settings.issuer, 'https://iam.example/realms/cara');
      assert.equal(body.settings.tlsConfig, '', 'no "add new" placeholder');
      assert.deepEqual(body.credentials, { certPem: '', keyPem: '', pfx: '__PWRD__', passphrase: 'typed-now', caPem: '-----BEGIN CERTIFICATE-----' });

      const result = dialog.$('#cara-config-test-result');
      assert.equal(result.attr('data-result'), 'running');
      call.done({ ok: true, clientId: 'tcu-a/typed', scope: 'ns:cara:scp.Contributor', expiresIn: 300, expiresAt: '2030-01-01T00:00:00Z', certificate: { subject: 'CN=tcu', validTo: '2031-02-03T00:00:00.000Z', daysLeft: 400 }, warnings: [] });
      assert.equal(result.attr('data-result'), 'ok');
      assert.deepEqual(result.lines(), ['token ok, expires in 300 s, scope: ns:cara:scp.Contributor', 'certificate CN=tcu, valid until 2031-02-03 (400 days left)']);

      dialog.$('#cara-config-test-connection').trigger('click');
      dialog.ajaxCalls[1]?.done({ ok: false, code: 'CARA_OAUTH', message: 'refused (401 invalid_client)', warnings: ['no client certificate is configured'] });
      assert.equal(result.attr('data-result'), 'failed');
      assert.deepEqual(result.lines(), ['failed: refused (401 invalid_client)', 'no client certificate is configured']);
    });
  });
});
