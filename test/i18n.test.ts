/**
 * The editor and the runtime in three languages: the de and fr catalogues and help texts of
 * every CARA node match the en-US source of truth (same keys, same placeholders, same help
 * sections), the build copies them into dist/, and a real Node-RED (the registry, the editor
 * API and the runtime's i18n, in a child process) serves and speaks them to a Swiss browser
 * (fr-CH, de-CH) and in its logs.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const TYPES = ['cara-config', 'cara-token', 'cara-resolve-account', 'cara-fhir'] as const;
const LANGS = ['de', 'fr'] as const;
type NodeType = (typeof TYPES)[number];
type Lang = (typeof LANGS)[number];

/** Node-RED registers each node's catalogue under "<module>/<type>". */
const MODULE = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;

// ---------------------------------------------------------------- reading the files

type Catalogue = { [key: string]: string | Catalogue };

function catalogueFile(type: NodeType, lang: string, root = join(ROOT, 'nodes')): string {
  return join(root, type, 'locales', lang, `${type}.json`);
}

function helpFile(type: NodeType, lang: Lang, root = join(ROOT, 'nodes')): string {
  return join(root, type, 'locales', lang, `${type}.html`);
}

function readCatalogue(file: string): Catalogue {
  return JSON.parse(readFileSync(file, 'utf8')) as Catalogue;
}

/** Every leaf of a catalogue by its dotted key, e.g. "cara-fhir.status.pages". */
function flatten(catalogue: Catalogue, prefix = ''): Map<string, string> {
  const leaves = new Map<string, string>();
  for (const [key, value] of Object.entries(catalogue)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string') leaves.set(path, value);
    else for (const [leaf, text] of flatten(value, path)) leaves.set(leaf, text);
  }
  return leaves;
}

/** The `__name__` (Node-RED) and `{{name}}` (i18next) placeholders of a message. */
function placeholders(text: string): string[] {
  return [...text.matchAll(/__[A-Za-z0-9_]+?__|\{\{-?\s*[A-Za-z0-9_.]+\s*\}\}/g)].map((m) => m[0]);
}

/** The help of a node type in an .html file, found the way Node-RED's loader finds it. */
function helpOf(html: string, type: NodeType): string {
  const blocks = [...html.matchAll(/<script[^>]* data-help-name=["']([^"']+)["'][^>]*>[\s\S]*?<\/script>/gi)];
  const help = blocks.filter((m) => m[1] === type && !/ data-lang\s*=/.test(m[0])).map((m) => m[0]);
  assert.equal(help.length, 1, `exactly one help block for ${type}`);
  return help[0] ?? '';
}

function count(html: string, pattern: RegExp): number {
  return html.match(pattern)?.length ?? 0;
}

/** The first paragraph of a help text: the line the editor shows under the node's name. */
function intro(help: string): string {
  const match = /<p>([\s\S]*?)<\/p>/.exec(help);
  assert.ok(match, 'the help starts with a paragraph');
  return (match[1] ?? '').replace(/\s+/g, ' ').trim();
}

/** RED._ as Node-RED interpolates it (prefix/suffix `__`), for expected texts. */
function interpolate(text: string, params: Record<string, string>): string {
  return text.replace(/__([A-Za-z0-9_]+)__/g, (whole, name: string) => params[name] ?? whole);
}

function englishHelp(type: NodeType): string {
  return helpOf(readFileSync(join(ROOT, 'nodes', type, `${type}.html`), 'utf8'), type);
}

// ---------------------------------------------------------------- what may stay in English

/**
 * Keys whose translation may equal the English text: product and protocol names, HTTP
 * headers, code in placeholders, and words that are the same in that language. `*` ends a
 * prefix. Anything else identical to English is a forgotten translation.
 */
const SAME_AS_ENGLISH: Record<Lang, string[]> = {
  de: [
    'cara-config.label.name',
    'cara-config.label.introspectionEndpoint',
    'cara-config.label.jwksUri',
    'cara-config.label.aimUrl',
    'cara-config.label.scope',
    'cara-config.label.pfx',
    'cara-config.label.passphrase',
    'cara-config.label.timeout',
    'cara-config.environment.integration',
    'cara-config.placeholder.name',
    'cara-config.placeholder.issuer',
    'cara-config.placeholder.pem',
    'cara-token.paletteLabel',
    'cara-token.label.name',
    'cara-token.label.token',
    'cara-token.label.setAuthorizationHeader',
    'cara-resolve-account.label.name',
    'cara-resolve-account.inputLabels',
    'cara-resolve-account.label.mpiId',
    'cara-resolve-account.label.cacheTtl',
    'cara-fhir.label.name',
    'cara-fhir.label.partition',
    'cara-fhir.label.versionId',
    'cara-fhir.label.operation',
    'cara-fhir.label.ifMatch',
    'cara-fhir.label.ifNoneExist',
    'cara-fhir.paletteLabel',
    'cara-fhir.placeholder.*',
  ],
  fr: [
    'cara-config.label.introspectionEndpoint',
    'cara-config.label.jwksUri',
    'cara-config.label.aimUrl',
    'cara-config.label.scope',
    'cara-config.label.pfx',
    'cara-config.environment.validation',
    'cara-config.environment.production',
    'cara-config.placeholder.issuer',
    'cara-config.placeholder.pem',
    'cara-token.label.action',
    'cara-token.paletteLabel',
    'cara-resolve-account.inputLabels',
    'cara-resolve-account.label.mpiId',
    'cara-resolve-account.label.cacheTtl',
    'cara-fhir.label.interaction',
    'cara-fhir.label.partition',
    'cara-fhir.label.resourceType',
    'cara-fhir.label.versionId',
    'cara-fhir.label.ifMatch',
    'cara-fhir.label.ifNoneExist',
    'cara-fhir.paletteLabel',
    'cara-fhir.placeholder.*',
    'cara-fhir.status.pages',
  ],
};

function maySameAsEnglish(lang: Lang, key: string): boolean {
  return SAME_AS_ENGLISH[lang].some((allowed) => (allowed.endsWith('*') ? key.startsWith(allowed.slice(0, -1)) : key === allowed));
}

// ---------------------------------------------------------------- the files themselves

describe('i18n: de and fr catalogues and help follow en-US', function () {
  for (const type of TYPES) {
    const english = flatten(readCatalogue(catalogueFile(type, 'en-US')));

    for (const lang of LANGS) {
      describe(`${type} (${lang})`, function () {
        const file = catalogueFile(type, lang);

        it('has a catalogue with exactly the en-US keys', function () {
          assert.ok(existsSync(file), `${file} is missing`);
          const translated = flatten(readCatalogue(file));
          const missing = [...english.keys()].filter((key) => !translated.has(key));
          const extra = [...translated.keys()].filter((key) => !english.has(key));
          assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${lang}/${type}.json differs from en-US`);
        });

        it('keeps every placeholder, leaves nothing empty and nothing untranslated', function () {
          const translated = flatten(readCatalogue(file));
          const problems: string[] = [];
          for (const [key, source] of english) {
            const text = translated.get(key);
            if (text === undefined) continue; // reported by the key test
            if (!text.trim()) problems.push(`${key}: empty`);
            for (const placeholder of placeholders(source)) {
              if (!text.includes(placeholder)) problems.push(`${key}: ${placeholder} is lost`);
            }
            if (text === source && source.trim() && !maySameAsEnglish(lang, key)) problems.push(`${key}: still English ("${text}")`);
            if (lang === 'de' && text.includes('ß')) problems.push(`${key}: Swiss German writes "ss", not "ß"`);
          }
          assert.deepEqual(problems, []);
        });

        it('has a help text with the sections, properties and paragraphs of the English help', function () {
          const path = helpFile(type, lang);
          assert.ok(existsSync(path), `${path} is missing`);
          const help = helpOf(readFileSync(path, 'utf8'), type);
          const source = englishHelp(type);
          assert.equal(count(help, /<h3>/g), count(source, /<h3>/g), 'sections (<h3>)');
          assert.equal(count(help, /<dt[\s>]/g), count(source, /<dt[\s>]/g), 'documented properties (<dt>)');
          assert.equal(count(help, /<li[\s>]/g), count(source, /<li[\s>]/g), 'outputs and references (<li>)');
          assert.equal(count(help, /<p>/g), count(source, /<p>/g), 'paragraphs (<p>): a paragraph added to the English help is missing here');
          assert.notEqual(intro(help), intro(source), 'the help is translated');
          if (lang === 'de') assert.ok(!help.includes('ß'), 'Swiss German writes "ss", not "ß"');
        });
      });
    }
  }

  it('flags a missing key, a lost placeholder and an untranslated text (the checks can fail)', function () {
    const english = flatten({ a: { status: 'token ok · until __time__', label: 'Connection' } });
    const broken = flatten({ a: { status: 'jeton ok' } });
    assert.ok(!broken.has('a.label') && english.has('a.label'));
    assert.deepEqual(placeholders(english.get('a.status') ?? ''), ['__time__']);
    assert.ok(!(broken.get('a.status') ?? '').includes('__time__'));
    assert.ok(!maySameAsEnglish('fr', 'cara-config.label.connection'));
    assert.ok(maySameAsEnglish('de', 'cara-fhir.placeholder.id'));
  });
});

// ---------------------------------------------------------------- the build

describe('i18n: the build copies the translations into dist/', function () {
  let scratch: string;

  before(function () {
    // scripts/copy-assets.mjs works relative to its cwd: run it on a copy of nodes/.
    scratch = mkdtempSync(join(tmpdir(), 'cara-i18n-build-'));
    cpSync(join(ROOT, 'nodes'), join(scratch, 'nodes'), { recursive: true });
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'copy-assets.mjs')], { cwd: scratch, stdio: 'pipe' });
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  for (const type of TYPES) {
    for (const lang of LANGS) {
      it(`copies ${type}'s ${lang} catalogue and help`, function () {
        for (const [source, built] of [
          [catalogueFile(type, lang), catalogueFile(type, lang, join(scratch, 'dist', 'nodes'))],
          [helpFile(type, lang), helpFile(type, lang, join(scratch, 'dist', 'nodes'))],
        ] as const) {
          assert.ok(existsSync(built), `${built} was not copied`);
          assert.equal(readFileSync(built, 'utf8'), readFileSync(source, 'utf8'));
        }
      });
    }
  }
});

// ---------------------------------------------------------------- a real Node-RED

/**
 * Runs an embedded Node-RED (its registry, editor API and runtime) with this package in
 * nodesDir. Every node status goes to stdout as the "node-status" runtime event the editor's
 * comms turn into the status under each node.
 */
const RUNNER = `
const http = require('node:http');
const RED = require(process.env.NODE_RED_PATH);
const server = http.createServer();
RED.init(server, JSON.parse(process.env.NODE_RED_SETTINGS));
RED.events.on('node-status', (event) => process.stdout.write('STATUS ' + JSON.stringify(event) + '\\n'));
server.on('request', RED.httpAdmin);
server.listen(0, '127.0.0.1', () => {
  RED.start().then(
    () => process.stdout.write('LISTENING ' + server.address().port + '\\n'),
    (err) => { console.error(err); process.exit(1); },
  );
});
process.on('SIGTERM', () => RED.stop().finally(() => process.exit(0)));
`;

interface RunningNodeRed {
  port: number;
  /** Resolves once the runtime's log holds `text`. */
  waitForLog(text: string): Promise<void>;
  /** Resolves once node `id` showed a status with `text`, as the editor would show it under the node. */
  waitForStatus(id: string, text: string): Promise<void>;
  stop(): Promise<void>;
}

/** The statuses the runner reported for node `id`. */
function statusTexts(output: string, id: string): string[] {
  return [...output.matchAll(/^STATUS (.+)$/gm)]
    .map((m) => JSON.parse(m[1] ?? '{}') as { id?: string; status?: { text?: string } })
    .filter((event) => event.id === id)
    .map((event) => event.status?.text ?? '');
}

/**
 * A flow whose nodes speak at deploy without any network: a connection without client id
 * (cara-config reports it with node.error) and nodes without a connection (their status).
 */
const PROBE_FLOW = [
  { id: 'tab', type: 'tab', label: 'i18n' },
  { id: 'cfg', type: 'cara-config', environment: 'validation', clientId: '', certificateSource: 'pem' },
  { id: 'fhir', type: 'cara-fhir', z: 'tab', config: '', interaction: 'read', x: 100, y: 100, wires: [[]] },
  { id: 'resolve', type: 'cara-resolve-account', z: 'tab', config: '', x: 100, y: 200, wires: [[]] },
];

async function startNodeRed(lang: Lang): Promise<RunningNodeRed> {
  const userDir = mkdtempSync(join(tmpdir(), `cara-i18n-${lang}-`));
  writeFileSync(join(userDir, 'flows.json'), JSON.stringify(PROBE_FLOW));
  const settings = {
    userDir,
    flowFile: 'flows.json',
    nodesDir: [ROOT],
    lang,
    httpAdminRoot: '/',
    httpNodeRoot: false,
    uiHost: '127.0.0.1',
    credentialSecret: 'i18n-test',
    logging: { console: { level: 'info', metrics: false, audit: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    editorTheme: { tours: false, projects: { enabled: false } },
  };
  const nodeRedPath = createRequire(__filename).resolve('node-red');
  const child: ChildProcess = spawn(process.execPath, ['-e', RUNNER], {
    cwd: userDir,
    env: { ...process.env, NODE_RED_PATH: nodeRedPath, NODE_RED_SETTINGS: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    for (const check of waiters) check();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));

  /** Resolves with what `find` finds in the output so far or to come. */
  const waitFor = <T>(find: (output: string) => T | undefined, what: string, timeoutMs = 15_000): Promise<T> =>
    new Promise((resolveWait, reject) => {
      const finish = (error?: Error, found?: T): void => {
        clearTimeout(timer);
        waiters.delete(check);
        child.removeListener('exit', onExit);
        if (error) reject(error);
        else resolveWait(found as T);
      };
      const check = (): void => {
        const found = find(output);
        if (found !== undefined) finish(undefined, found);
      };
      const onExit = (): void => finish(new Error(`Node-RED (${lang}) exited before ${what}; its log:\n${output}`));
      const timer = setTimeout(() => finish(new Error(`Node-RED (${lang}): no ${what} within ${timeoutMs} ms; its log:\n${output}`)), timeoutMs);
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killTimer);
    }
    rmSync(userDir, { recursive: true, force: true });
  };

  try {
    const port = await waitFor((out) => /^LISTENING (\d+)$/m.exec(out)?.[1], 'LISTENING line');
    return {
      port: Number(port),
      waitForLog: (text) => waitFor((out) => (out.includes(text) ? true : undefined), `log "${text}"`).then(() => undefined),
      waitForStatus: (id, text) =>
        waitFor((out) => (statusTexts(out, id).includes(text) ? true : undefined), `status "${text}" on ${id}`).then(() => undefined),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  assert.equal(response.status, 200, `GET ${path}`);
  return response.text();
}

describe('i18n: a real Node-RED serves and speaks de and fr', function () {
  this.timeout(60_000);
  const runtimes = new Map<Lang, RunningNodeRed>();

  before(async function () {
    for (const type of TYPES) {
      for (const lang of LANGS) {
        for (const [source, built] of [
          [catalogueFile(type, lang), catalogueFile(type, lang, join(ROOT, 'dist', 'nodes'))],
          [helpFile(type, lang), helpFile(type, lang, join(ROOT, 'dist', 'nodes'))],
        ] as const) {
          const stale = !existsSync(built) || readFileSync(built, 'utf8') !== readFileSync(source, 'utf8');
          if (stale) throw new Error(`${built} is missing or out of date: run \`npm run build\` before this test`);
        }
      }
    }
    const started = await Promise.allSettled(LANGS.map(async (lang) => runtimes.set(lang, await startNodeRed(lang))));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
  });

  after(async function () {
    await Promise.all([...runtimes.values()].map((runtime) => runtime.stop()));
  });

  function runtime(lang: Lang): RunningNodeRed {
    const running = runtimes.get(lang);
    assert.ok(running, `Node-RED (${lang}) is running`);
    return running;
  }

  for (const lang of LANGS) {
    const browser = `${lang}-CH`;

    it(`the editor API hands a ${browser} browser the ${lang} catalogue of every node`, async function () {
      for (const type of TYPES) {
        // The editor's language is the browser's, whatever the runtime's own language.
        const served = flatten(JSON.parse(await get(runtime('fr').port, `/locales/${MODULE}/${type}?lng=${browser}`)) as Catalogue);
        const wrong = [...flatten(readCatalogue(catalogueFile(type, lang)))].filter(([key, text]) => served.get(key) !== text);
        assert.deepEqual(wrong, [], `${type} in ${browser}: texts the editor did not get as written`);
      }
    });

    it(`the editor shows a ${browser} browser the ${lang} help of every node`, async function () {
      const html = await get(runtime('de').port, '/nodes', { Accept: 'text/html', 'Accept-Language': `${browser},${lang};q=0.9` });
      for (const type of TYPES) {
        const served = helpOf(html, type);
        assert.equal(served, helpOf(readFileSync(helpFile(type, lang), 'utf8'), type), `${type} help in ${browser}`);
        assert.ok(!served.includes(intro(englishHelp(type))), `${type}: no English help beside the ${lang} one`);
      }
    });

    it(`the runtime started with lang "${lang}" logs errors and shows node statuses in ${lang}`, async function () {
      const config = flatten(readCatalogue(catalogueFile('cara-config', lang)));
      const reason = interpolate(config.get('cara-config.errors.missingClientId') ?? '?', { property: 'clientId' });
      const deployError = interpolate(config.get('cara-config.errors.deploy') ?? '?', { reason });
      await runtime(lang).waitForLog(`[cara-config:cfg] ${deployError}`);
      for (const [id, type] of [['fhir', 'cara-fhir'], ['resolve', 'cara-resolve-account']] as const) {
        const text = flatten(readCatalogue(catalogueFile(type, lang))).get(`${type}.status.notConfigured`) ?? '?';
        await runtime(lang).waitForStatus(id, text);
      }
    });
  }

  it('still serves English to an English browser (the translations do not replace the source)', async function () {
    const english = readCatalogue(catalogueFile('cara-token', 'en-US'));
    const served = JSON.parse(await get(runtime('fr').port, `/locales/${MODULE}/cara-token?lng=en-US`)) as Catalogue;
    assert.deepEqual(served, english);
    const html = await get(runtime('fr').port, '/nodes', { Accept: 'text/html', 'Accept-Language': 'en-US' });
    assert.equal(helpOf(html, 'cara-token'), englishHelp('cara-token'));
  });
});
