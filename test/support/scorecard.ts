/**
 * Runs the flow library's scorecard (`node-red-dev validate`, the real CLI from node_modules)
 * without the internet. node-red-dev asks three places:
 *   - https://catalogue.nodered.org/catalogue.json (P08 name, N01 node types), with axios;
 *   - https://registry.npmjs.org/node-red (P06, P07) and /<our package> (the tarball when run
 *     with --npm, as the flow library does), with axios;
 *   - the npm registry for each dependency: npm-remote-ls (D02, `request`) and npm-check
 *     (D03, `got`), both reading the registry URL from npm's config.
 * One local plain-HTTP server answers all of them: axios honours HTTPS_PROXY and sends a
 * proxy-form request (`GET https://host/path`) to it; npm-remote-ls and npm-check follow
 * `npm_config_registry`. The child gets only those variables pointed here, so no request can
 * leave the machine; every request is recorded, and one nobody answers is a 404 the test sees.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REGISTRY_HOST = 'registry.npmjs.org';
const CATALOGUE_URL = 'https://catalogue.nodered.org/catalogue.json';

/** One entry of catalogue.json, as the flow library serves it (only the fields node-red-dev reads). */
export interface CatalogueModule {
  id: string;
  version: string;
  types: string[];
}

interface RegistryVersion {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  engines?: Record<string, string>;
  dist?: { tarball: string };
}

/** A package document ("packument") of the npm registry, trimmed to what node-red-dev reads. */
export interface Packument {
  name: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, RegistryVersion>;
  time?: Record<string, string>;
}

function packument(name: string, latest: string, versions: string[], extra: Omit<RegistryVersion, 'name' | 'version'> = {}): Packument {
  return {
    name,
    'dist-tags': { latest },
    versions: Object.fromEntries(versions.map((version) => [version, { name, version, dependencies: {}, ...extra }])),
  };
}

function range(prefix: string, patches: number[]): string[] {
  return patches.map((patch) => `${prefix}.${patch}`);
}

/**
 * The registry's answers recorded on 2026-11-29 (`npm view <name> dist-tags versions engines`),
 * trimmed to the versions that matter. A recording, not the installed versions: D03 compares
 * our ranges with the registry's *latest*, and the flow library sees the live registry.
 * Refresh it when a dependency is bumped.
 */
export const RECORDED_REGISTRY: Record<string, Packument> = {
  'node-red': {
    name: 'node-red',
    'dist-tags': { latest: '5.0.7' },
    versions: {
      '4.1.15': { name: 'node-red', version: '4.1.15', engines: { node: '>=18.5' } },
      '5.0.7': { name: 'node-red', version: '5.0.7', engines: { node: '>=22.9' } },
    },
  },
  jose: packument('jose', '6.2.18', range('6.2', Array.from({ length: 19 }, (_, i) => i)), { engines: {} }),
  undici: packument('undici', '8.13.1', [
    ...range('7.30', [0, 1, 2]),
    ...range('8.0', [0, 1, 2, 3]),
    ...range('8.12', [0, 1, 2, 3, 4]),
    ...range('8.13', [0, 1]),
  ], { engines: { node: '>=22.19.0' } }),
};

/** Node types a module registers, read from its editor HTML the way node-red-dev does (by registerType). */
export function typesInHtml(html: string): string[] {
  return [...html.matchAll(/registerType\(\s*['"]([^'"]+)['"]/g)].map((match) => match[1]);
}

function htmlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.html')).map((file) => join(dir, file));
}

/**
 * The catalogue we answer with: Node-RED's own core nodes (read from the installed
 * @node-red/nodes: a clash with a core type is as bad as one with a contrib module) and
 * whatever modules a test adds. The real catalogue cannot be reached from here; a search of
 * public code found no other module registering a `cara-*` type or named like ours.
 */
export function coreNodesModule(repoDir: string): CatalogueModule {
  const coreDir = join(repoDir, 'node_modules', '@node-red', 'nodes');
  const { version } = JSON.parse(readFileSync(join(coreDir, 'package.json'), 'utf8')) as { version: string };
  const types = htmlFilesUnder(join(coreDir, 'core')).flatMap((file) => typesInHtml(readFileSync(file, 'utf8')));
  return { id: 'node-red', version, types: [...new Set(types)] };
}

export interface OfflineNetwork {
  /** http://127.0.0.1:<port>: the proxy for axios and the npm registry for the rest. */
  url: string;
  /** Every request received, as absolute URLs (`https://registry.npmjs.org/jose`). */
  requests: string[];
  /** Requests nobody had an answer for (answered 404). */
  unanswered: string[];
  close(): Promise<void>;
}

export interface OfflineAnswers {
  catalogue: CatalogueModule[];
  registry: Record<string, Packument>;
}

/** The absolute URL a request meant: proxy form keeps its own; origin form went to the registry. */
function intendedUrl(req: IncomingMessage): string {
  const raw = req.url ?? '/';
  if (/^https?:\/\//.test(raw)) return raw;
  return `https://${REGISTRY_HOST}${raw}`;
}

export async function startOfflineNetwork(answers: OfflineAnswers): Promise<OfflineNetwork> {
  const routes = new Map<string, () => { type: string; body: string }>();
  const json = (value: unknown) => () => ({ type: 'application/json', body: JSON.stringify(value) });
  routes.set(CATALOGUE_URL, json({ name: 'Node-RED Community catalogue', modules: answers.catalogue }));
  for (const [name, doc] of Object.entries(answers.registry)) routes.set(`https://${REGISTRY_HOST}/${name}`, json(doc));

  const requests: string[] = [];
  const unanswered: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = intendedUrl(req);
    requests.push(url);
    const answer = routes.get(url);
    if (req.method !== 'GET' || !answer) {
      unanswered.push(`${req.method ?? '?'} ${url}`);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
      return;
    }
    const { type, body } = answer();
    res.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    unanswered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The scorecard file node-red-dev writes (`-o`): one entry per check, `test` true when it passed. */
export type Scorecard = Record<string, { test?: boolean; [detail: string]: unknown }>;

export interface ScorecardRun {
  scorecard: Scorecard;
  /** The CLI's own warnings (` ›   Warning: ...`), one per line. */
  warnings: string[];
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

/** Environment for the CLI: the machine's, less every proxy or npm setting, plus ours. */
function offlineEnv(network: OfflineNetwork, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/proxy|^npm_/i.test(key)) env[key] = value;
  }
  return {
    ...env,
    HTTPS_PROXY: network.url,
    // registry-url reads npm's settings with rc('npm'): env variables `npm_<key>`, then ~/.npmrc.
    npm_registry: `${network.url}/`,
    HOME: home,
    USERPROFILE: home,
    TMPDIR: home,
  };
}

/**
 * Runs the scorecard on an unpacked package exactly as the flow library does after a
 * publish (node-red/flow-library lib/scorecard.js: `validate -p <dir> -o <file> -e true`),
 * in a child process whose only network is `network`.
 */
export async function runScorecard(repoDir: string, network: OfflineNetwork, packageDir: string): Promise<ScorecardRun> {
  const scratch = mkdtempSync(join(tmpdir(), 'cara-scorecard-'));
  const output = join(scratch, 'scorecard.json');
  const bin = join(repoDir, 'node_modules', 'node-red-dev', 'bin', 'run');
  try {
    const child = spawn(process.execPath, [bin, 'validate', '-p', packageDir, '-o', output, '-e', 'true'], {
      cwd: scratch,
      env: offlineEnv(network, scratch),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    let scorecard: Scorecard = {};
    try {
      scorecard = JSON.parse(readFileSync(output, 'utf8')) as Scorecard;
    } catch {
      // No scorecard written: the run failed; stdout/stderr say why and the test shows them.
    }
    return { scorecard, warnings: warningsOf(stderr), stdout, stderr, exitCode };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** oclif prints ` ›   Warning: <text>` and wraps long text on further ` ›   ` lines. */
function warningsOf(stderr: string): string[] {
  const warnings: string[] = [];
  for (const line of stderr.split('\n')) {
    const text = line.replace(/^\s*›\s*/, '').trim();
    if (line.includes('Warning:')) warnings.push(text.replace(/^Warning:\s*/, ''));
    else if (/^\s*›/.test(line) && text && warnings.length > 0) warnings[warnings.length - 1] += ` ${text}`;
  }
  return warnings;
}

/** The checks of a scorecard (P01, N01, D03, ...), leaving out its `package` header. */
export function checks(scorecard: Scorecard): Record<string, boolean> {
  return Object.fromEntries(
    Object.entries(scorecard)
      .filter(([id]) => /^[A-Z]\d\d$/.test(id))
      .map(([id, result]) => [id, result.test === true]),
  );
}

export interface ScorecardExpectations {
  /** Node types that are not config nodes: each needs an example (N02). */
  flowTypes: string[];
  /** Runtime dependencies: D02/D03 must have asked the local registry for each. */
  dependencies: string[];
  /** Checks allowed to fail, for exactly these packages, and why. */
  acceptedFailures: Record<string, { packages: string[]; why: string }>;
  /** Warnings that do not fail anything. */
  advisories: RegExp[];
}

const ALL_CHECKS = ['P01', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'N01', 'N02', 'D01', 'D02', 'D03'];

/**
 * Everything wrong with a scorecard run, in words; empty when it passes. Stricter than the
 * scorecard file alone, because node-red-dev 0.1.6 records some failures only as warnings (P05
 * passes without the keyword) and skips node checks when it cannot read a node's HTML.
 */
export function scorecardProblems(run: ScorecardRun, network: OfflineNetwork, expected: ScorecardExpectations): string[] {
  const problems: string[] = [];
  if (run.exitCode !== 0 || !run.stdout.includes('Complete')) problems.push(`node-red-dev exited ${run.exitCode}: ${run.stderr}`);
  for (const line of run.stdout.split('\n').filter((text) => text.startsWith('Unable to parse'))) {
    problems.push(`${line.trim()}: its .html must call RED.nodes.registerType('<type>', { ... }) with a literal type and an inline object`);
  }
  const results = checks(run.scorecard);
  for (const id of ALL_CHECKS) if (!(id in results)) problems.push(`check ${id} missing from the scorecard`);
  for (const [id, passed] of Object.entries(results)) {
    const accepted = expected.acceptedFailures[id];
    if (!passed && !accepted) problems.push(`${id} failed: ${JSON.stringify(run.scorecard[id])}`);
    if (passed && accepted) problems.push(`${id} passes now: remove its accepted failure`);
    if (!passed && accepted) {
      const packages = [...((run.scorecard[id].packages as string[] | undefined) ?? [])].sort();
      if (packages.join() !== [...accepted.packages].sort().join()) {
        problems.push(`${id} failed for ${packages.join(', ')}; accepted only for ${accepted.packages.join(', ')}`);
      }
    }
  }
  const withExamples = (run.scorecard.N02?.nodes as string[] | undefined) ?? [];
  const missing = expected.flowTypes.filter((type) => !withExamples.includes(type));
  if (missing.length > 0) problems.push(`N02 saw no example for ${missing.join(', ')} (it saw examples for: ${withExamples.join(', ') || 'none'})`);
  for (const warning of run.warnings) {
    const ofAccepted = Object.entries(expected.acceptedFailures).some(([id, { packages }]) => packages.some((name) => warning.startsWith(`${id} ${name} `)));
    if (!ofAccepted && !expected.advisories.some((advisory) => advisory.test(warning))) problems.push(`warning: ${warning}`);
  }
  if (network.unanswered.length > 0) problems.push(`asked the local network for what it does not know: ${network.unanswered.join(', ')}`);
  // A check that needs the network but did not ask ours went somewhere else.
  const asked = [CATALOGUE_URL, `https://${REGISTRY_HOST}/node-red`, ...expected.dependencies.map((name) => `https://${REGISTRY_HOST}/${name}`)];
  for (const url of asked) if (!network.requests.includes(url)) problems.push(`never asked the local network for ${url}`);
  return problems;
}
