/**
 * The example flows (examples/*.json, Node-RED's Import > Examples) loaded unchanged into a real
 * Node-RED runtime and run against the local sandbox over mTLS. Only what a test must change is
 * rewritten: the sandbox port, the HL7 TCP port, and the CARA_SANDBOX_* environment variables that
 * `npm start` sets. Each test clicks what the example's comment says to click and checks what the
 * comment promises: the debug output, the vault's contents, the HL7 ACK, the catch paths.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observation } from '@medplum/fhirtypes';
import type { RunningSandbox } from '../sandbox/index';
import { SANDBOX_CLIENTS } from '../sandbox/index';
import { SCP_PROFILES, SCP_TRACKED_CODES, scpPatient, seedPatients } from '../sandbox/seed';
import { collect, eventually, helper, inject } from './support/node-red';
import {
  asTestFlow,
  CARA_TYPES,
  CORE_NODE_FILES,
  editorDefaults,
  exampleFiles,
  freePort,
  isConfigNode,
  mllpExchange,
  mllpFrame,
  nodeModulesFor,
  readExample,
  recordSidebar,
  startSandboxOnConsecutivePorts,
  type ExampleNode,
} from './support/examples';

type Msg = Record<string, unknown>;

/** A value made in a function node's sandbox (another realm), as plain data for deepEqual. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
type Resource = { resourceType: string; id?: string; [key: string]: unknown };
type Bundle = Resource & { entry?: Array<{ resource?: Resource; response?: { status?: string } }> };

const SHARED_CONFIG_ID = 'cara-sandbox-config';
const ENV_NAMES = ['CARA_SANDBOX_CERT', 'CARA_SANDBOX_KEY', 'CARA_SANDBOX_CA', 'CARA_SANDBOX_CLIENT_ID'] as const;
const CREDENTIAL_NAMES = new Set(['credentials', 'certPem', 'keyPem', 'pfx', 'passphrase', 'caPem', 'password', 'secret', 'token_value']);
const NODE_RED_KEYS = new Set(['id', 'type', 'z', 'x', 'y', 'wires', 'g']);
const jeanMuller = seedPatients[1];

function byType(nodes: ExampleNode[], type: string): ExampleNode[] {
  return nodes.filter((node) => node.type === type);
}

/** Every key anywhere in a JSON value (to find a credential property however deep). */
function allKeys(value: unknown, keys: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) allKeys(item, keys);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      keys.push(key);
      allKeys(inner, keys);
    }
  }
  return keys;
}

describe('example flows (examples/*.json in a real Node-RED against the sandbox)', function () {
  this.timeout(30_000);
  const files = exampleFiles();

  describe('every example file', function () {
    it('exists for each job the package promises', function () {
      assert.deepEqual(files, [
        '01-get-and-inspect-token.json',
        '02-resolve-patient-and-read.json',
        '03-shared-care-plan-contribution.json',
        '04-hl7v2-oru-feed.json',
        '05-bulk-export-with-paging.json',
        '06-error-handling-with-catch.json',
      ]);
    });

    for (const file of files) {
      it(`${file} is an importable flow: known types, a comment, wires and references that resolve, no z`, function () {
        const nodes = readExample(file);
        assert.ok(Array.isArray(nodes) && nodes.length > 0, 'a non-empty array of nodes');
        const ids = new Set(nodes.map((node) => node.id));
        assert.equal(ids.size, nodes.length, 'node ids are unique');
        const known = new Set<string>([...CARA_TYPES, ...Object.keys(CORE_NODE_FILES)]);
        for (const node of nodes) {
          assert.equal(typeof node.id, 'string', 'every node has an id');
          assert.ok(known.has(node.type), `${node.id}: type "${node.type}" is one of ours or a core node`);
          assert.equal(node.z, undefined, `${node.id} has no z (it is imported into the current tab)`);
          if (isConfigNode(node)) continue;
          assert.ok(Number.isFinite(node.x) && Number.isFinite(node.y), `${node.id} is placed (x, y)`);
          for (const target of (node.wires ?? []).flat()) assert.ok(ids.has(target), `${node.id} is wired to ${target}, which exists`);
          if (node.type === 'catch' && Array.isArray(node.scope)) {
            for (const scoped of node.scope as string[]) assert.ok(ids.has(scoped), `${node.id} watches ${scoped}, which exists`);
          }
          if (node.type.startsWith('cara-')) {
            const config = nodes.find((n) => n.id === node.config);
            assert.equal(config?.type, 'cara-config', `${node.id} uses a cara-config of the same file`);
          }
        }
        const comments = byType(nodes, 'comment');
        assert.ok(comments.length > 0, 'has a comment node');
        assert.ok(comments.some((c) => typeof c.info === 'string' && c.info.length > 200), 'the comment explains what to click and what to expect');
      });

      it(`${file}: our nodes carry exactly the settings of their editor`, function () {
        for (const node of readExample(file).filter((n) => n.type.startsWith('cara-'))) {
          const expected = editorDefaults(node.type).sort();
          const actual = Object.keys(node).filter((key) => !NODE_RED_KEYS.has(key)).sort();
          assert.deepEqual(actual, expected, `${node.id} (${node.type}) settings`);
        }
      });

      it(`${file} holds no credentials and no secrets`, function () {
        const nodes = readExample(file);
        const text = JSON.stringify(nodes);
        const keys = allKeys(nodes);
        for (const name of CREDENTIAL_NAMES) assert.ok(!keys.includes(name), `no "${name}" property`);
        assert.doesNotMatch(text, /-----BEGIN/, 'no PEM material');
        assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\./, 'no JWT');
        for (const config of byType(nodes, 'cara-config')) {
          assert.equal(config.certificateSource, 'pem-file', `${config.id} reads its certificate from files`);
          assert.equal(config.certPath, '${CARA_SANDBOX_CERT}');
          assert.equal(config.keyPath, '${CARA_SANDBOX_KEY}');
          assert.equal(config.caPath, '${CARA_SANDBOX_CA}');
        }
      });
    }

    it('all share one sandbox connection (same id, same settings) and no other node id', function () {
      const seen = new Map<string, string>();
      let shared: ExampleNode | undefined;
      for (const file of files) {
        const nodes = readExample(file);
        const config = nodes.find((node) => node.id === SHARED_CONFIG_ID);
        assert.ok(config, `${file} has the shared cara-config "${SHARED_CONFIG_ID}"`);
        assert.equal(config.environment, 'sandbox');
        assert.equal(config.sandboxPort, 8443, 'the port `npm start` uses');
        assert.equal(config.clientId, '${CARA_SANDBOX_CLIENT_ID}');
        if (shared) assert.deepEqual(config, shared, `${file}: the shared cara-config is the same everywhere`);
        shared = config;
        for (const node of nodes) {
          if (node.id === SHARED_CONFIG_ID) continue;
          // `npm start` deploys each id once: a repeated id would drop a node from the later example.
          assert.ok(!seen.has(node.id), `${node.id} of ${file} is also in ${seen.get(node.id)}`);
          seen.set(node.id, file);
        }
      }
    });
  });

  describe('run against the sandbox', function () {
    let sandbox: RunningSandbox;
    let basePort: number;
    let dir: string;
    const savedEnv: Partial<Record<(typeof ENV_NAMES)[number], string>> = {};

    before(async function () {
      dir = mkdtempSync(join(tmpdir(), 'cara-examples-test-'));
      ({ sandbox, basePort } = await startSandboxOnConsecutivePorts(dir));
      const client = SANDBOX_CLIENTS[0];
      const clientFiles = sandbox.files.clients[client.certificateCommonName];
      const values = { CARA_SANDBOX_CERT: clientFiles.cert, CARA_SANDBOX_KEY: clientFiles.key, CARA_SANDBOX_CA: sandbox.files.caCert, CARA_SANDBOX_CLIENT_ID: client.clientId };
      for (const name of ENV_NAMES) {
        savedEnv[name] = process.env[name];
        process.env[name] = values[name];
      }
      await helper.startServer();
    });

    after(async function () {
      await helper.stopServer();
      await sandbox?.stop();
      for (const name of ENV_NAMES) {
        if (savedEnv[name] === undefined) delete process.env[name];
        else process.env[name] = savedEnv[name];
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    let sidebar: ReturnType<typeof recordSidebar>;
    beforeEach(() => {
      sidebar = recordSidebar();
    });
    afterEach(async () => {
      sidebar.stop();
      await helper.unload();
    });

    /** What the debug node `id` showed in the sidebar (the first time), parsed when it is JSON. */
    async function shownBy(id: string): Promise<unknown> {
      await eventually(() => sidebar.entries.some((entry) => entry.id === id), 5_000, `a sidebar message from ${id}`);
      const entry = sidebar.entries.find((e) => e.id === id) as { msg: string; format?: string };
      return /^(Object|array)/.test(entry.format ?? '') ? (JSON.parse(entry.msg) as unknown) : entry.msg;
    }

    /** Loads an example with the sandbox's port (and `rewrite` for anything else a test must change). */
    async function loadExample(file: string, rewrite: (node: ExampleNode) => ExampleNode = (node) => node): Promise<ExampleNode[]> {
      const nodes = readExample(file);
      const flow = asTestFlow(nodes, (node) => rewrite(node.type === 'cara-config' ? { ...node, sandboxPort: basePort } : node));
      await helper.load(nodeModulesFor(nodes), flow, {});
      return nodes;
    }

    /** Clicks an inject node and resolves with the first message its debug node `debugId` shows. */
    function click(injectId: string, debugId: string, timeoutMs = 10_000): Promise<Msg> {
      const shown = collect(debugId).next(timeoutMs);
      inject(injectId);
      return shown;
    }

    it('01 gets, renews, introspects and verifies the token; the debug nodes never show the token', async function () {
      await loadExample('01-get-and-inspect-token.json');
      const client = SANDBOX_CLIENTS[0];

      const got = await click('ex01-inject-get', 'ex01-debug-get');
      const description = got.token as { tokenType: string; expiresIn: number; scope?: string; claims?: Record<string, unknown> };
      assert.equal(description.tokenType, 'Bearer');
      assert.ok(description.expiresIn > 0 && description.expiresIn <= 300, `expiresIn ${description.expiresIn}`);
      assert.match(description.scope ?? '', /ns:cara:scp\.Contributor/);
      assert.equal(description.claims?.['cara:accountUrn'], client.accountUrn);
      const firstToken = got.payload as string;
      assert.match(firstToken, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/, 'the token itself is in msg.payload');
      assert.ok(!JSON.stringify(description).includes(firstToken), 'msg.token, which the debug node shows, does not hold the token');

      const renewed = await click('ex01-inject-renew', 'ex01-debug-renew');
      assert.notEqual(renewed.payload, firstToken, 'a new token');
      assert.equal((renewed.token as { tokenType: string }).tokenType, 'Bearer');

      const introspected = await click('ex01-inject-introspect', 'ex01-debug-introspect');
      assert.equal((introspected.payload as { active: boolean }).active, true);

      const verified = await click('ex01-inject-verify', 'ex01-debug-verify');
      const claims = (verified.payload as { claims: Record<string, unknown> }).claims;
      assert.equal(claims.iss, sandbox.iam.issuer);
      assert.equal(claims.azp ?? claims.client_id, client.clientId);

      // What the user reads in the debug sidebar: the token's description, never the token.
      assert.equal((await shownBy('ex01-debug-get') as { tokenType?: string }).tokenType, 'Bearer');
      assert.equal((await shownBy('ex01-debug-introspect') as { active?: boolean }).active, true);
      await shownBy('ex01-debug-verify');
      assert.equal(sidebar.entries.length, 4);
      for (const entry of sidebar.entries) {
        for (const value of [firstToken, renewed.payload as string]) assert.ok(!entry.msg.includes(value), `${entry.id} shows no token`);
      }
    });

    it('02 resolves Marie Dubois and shows her Patient and Observation Bundles', async function () {
      await loadExample('02-resolve-patient-and-read.json');
      const errors = collect('ex02-debug-errors');
      const partition = collect('ex02-debug-partition').next(10_000);
      const patients = collect('ex02-debug-patient').next(10_000);
      const observations = collect('ex02-debug-observations').next(10_000);
      inject('ex02-inject');

      assert.equal((await partition).partition, scpPatient.partition);
      assert.equal(await shownBy('ex02-debug-partition'), scpPatient.partition);
      const patientBundle = (await patients).payload as Bundle;
      const patient = patientBundle.entry?.[0]?.resource as { name?: Array<{ family?: string }> } | undefined;
      assert.equal(patient?.name?.[0]?.family, 'Dubois');
      const observationBundle = (await observations).payload as Bundle;
      assert.ok(observationBundle.entry?.some((e) => e.resource?.id === 'scp-observation-weight-1'), 'her seeded body weight');
      assert.deepEqual(errors.messages, []);
    });

    it('03 contributes the tracked Observations to the Shared Care Plan, then amends one', async function () {
      await loadExample('03-shared-care-plan-contribution.json');
      const errors = collect('ex03-debug-errors');
      const batchResponse = collect('ex03-debug-batch').next(10_000);
      const amended = await click('ex03-inject', 'ex03-debug-amended').catch((err: Error) => {
        throw new Error(`${err.message}; caught: ${JSON.stringify(errors.messages.map((m) => (m.error as { message?: string }).message))}`);
      });

      const batch = await batchResponse;
      const contributed = batch.contributed as string[];
      assert.equal(contributed.length, 2, 'one Observation per tracked code with a reading');
      assert.deepEqual((batch.payload as Bundle).entry?.map((e) => e.response?.status?.slice(0, 3)), ['201', '201']);

      const observation = amended.payload as Resource & { status: string; meta: { versionId: string } };
      assert.equal(observation.id, contributed[0]);
      assert.equal(observation.status, 'amended');
      assert.equal(observation.meta.versionId, '2');
      assert.equal((await shownBy('ex03-debug-amended') as { status?: string }).status, 'amended');

      const repo = sandbox.vault.repository(scpPatient.partition);
      const stored = await Promise.all(contributed.map((id) => repo.readResource<Observation>('Observation', id)));
      const codes = stored.map((o) => o.code?.coding?.[0]?.code).sort();
      assert.deepEqual(codes, [SCP_TRACKED_CODES.bodyWeight.code, SCP_TRACKED_CODES.systolicBloodPressure.code].sort());
      for (const o of stored) {
        assert.deepEqual(o.meta?.profile, [SCP_PROFILES.observationExternal]);
        assert.ok(o.meta?.tag?.some((t) => t.code === 'cara:scp'), 'the cara:scp namespace tag');
        assert.deepEqual(o.identifier, [{ system: 'urn:cara:account', value: scpPatient.accountUrn }]);
        assert.deepEqual(o.performer, [{ reference: 'Organization/scp-organization' }], "the CareTeam's Organization");
        assert.deepEqual(o.subject, { reference: 'Patient/patient' });
      }
      assert.equal(stored[0].status, 'amended');
      assert.deepEqual(errors.messages, []);
    });

    describe('04 HL7 v2 feed', function () {
      let tcpPort: number;
      let sample: string[];

      beforeEach(async function () {
        tcpPort = await freePort();
        const nodes = await loadExample('04-hl7v2-oru-feed.json', (node) =>
          node.type === 'tcp in' || node.type === 'tcp request' ? { ...node, port: String(tcpPort) } : node,
        );
        const template = nodes.find((node) => node.id === 'ex04-template-sample');
        sample = String(template?.template).split('\n');
        // The listener opens its port on deploy; wait until it accepts connections.
        await waitForListener(tcpPort);
      });

      /** The example's own sample ORU^R01 with another message control id (MSH-10) and, optionally, PID-3. */
      function oru(controlId: string, pid3?: string): Buffer {
        const segments = sample.map((segment) => {
          const fields = segment.split('|');
          if (fields[0] === 'MSH') fields[9] = controlId;
          if (fields[0] === 'PID' && pid3 !== undefined) fields[3] = pid3;
          return fields.join('|');
        });
        return mllpFrame(segments);
      }

      it('stores the ORU^R01 results as SCP Observations and answers MSA|AA; a resend updates, never duplicates', async function () {
        const ack = await mllpExchange(tcpPort, oru('LAB-T1'));
        assert.match(ack[0], /^MSH\|\^~\\&\|NODE-RED\|CARA\|LABSYS\|BESTCLINIC\|\d{14}\|\|ACK\^R01\^ACK\|/);
        assert.equal(ack[1], 'MSA|AA|LAB-T1', ack.join('\n'));

        const repo = sandbox.vault.repository(scpPatient.partition);
        const weight = await repo.readResource<Observation>('Observation', 'hl7-BESTCLINIC-LAB-T1-1');
        assert.equal(weight.valueQuantity?.value, 70.8);
        assert.equal(weight.valueQuantity?.unit, 'kg');
        assert.equal(weight.code?.coding?.[0]?.code, SCP_TRACKED_CODES.bodyWeight.code);
        assert.equal(weight.effectiveDateTime, '2025-03-01T08:25:00+01:00');
        assert.deepEqual(weight.performer, [{ reference: 'Organization/scp-organization' }]);
        assert.deepEqual(weight.identifier, [{ system: 'urn:cara:account', value: scpPatient.accountUrn }]);
        assert.deepEqual(weight.meta?.profile, [SCP_PROFILES.observationExternal]);
        const pressure = await repo.readResource<Observation>('Observation', 'hl7-BESTCLINIC-LAB-T1-2');
        assert.equal(pressure.valueQuantity?.value, 131);

        const again = await mllpExchange(tcpPort, oru('LAB-T1'));
        assert.equal(again[1], 'MSA|AA|LAB-T1');
        assert.equal((await repo.readResource<Observation>('Observation', 'hl7-BESTCLINIC-LAB-T1-1')).meta?.versionId, '2', 'the same Observation, updated');
      });

      it('answers MSA|AE with the reason for an unknown patient, and stores nothing', async function () {
        const stranger = '00000000-0000-4000-8000-000000000000^^^CARA-MPI&2.16.756.5.30.1.191.1.0.2.1&ISO^PI';
        const ack = await mllpExchange(tcpPort, oru('LAB-T2', stranger));
        assert.equal(ack[1], 'MSA|AE|LAB-T2', ack.join('\n'));
        assert.match(ack[2], /^ERR\|\|\|207\^Application internal error\^HL70357\|E\|\|\|\|.*no account/);
        await assert.rejects(sandbox.vault.repository(scpPatient.partition).readResource<Observation>('Observation', 'hl7-BESTCLINIC-LAB-T2-1'));
      });

      it('answers MSA|AE when PID-3 has no CARA MPI-ID', async function () {
        const ack = await mllpExchange(tcpPort, oru('LAB-T3', '4711^^^BESTCLINIC&2.16.756.5.30.1.178&ISO^MR'));
        assert.equal(ack[1], 'MSA|AE|LAB-T3');
        assert.match(ack[2], /PID-3 holds no identifier of the CARA MPI/);
      });

      it('its sample sender gets an AA for the sample message', async function () {
        const shown = await click('ex04-inject-sample', 'ex04-debug-ack');
        assert.match(String(shown.payload), /^MSH\|.*\nMSA\|AA\|LAB-0001$/);
        assert.match(String(await shownBy('ex04-debug-ack')), /\nMSA\|AA\|LAB-0001$/);
      });
    });

    it('05 exports every Observation, one message per resource and merged, across pages', async function () {
      await loadExample('05-bulk-export-with-paging.json');
      const errors = collect('ex05-debug-errors');

      const written = await click('ex05-inject-add', 'ex05-debug-written');
      assert.deepEqual(plain(written.payload), { written: 25, refused: [] });
      const stored = await sandbox.vault.repository(jeanMuller.partition).searchResources({ resourceType: 'Observation', count: 1000 });
      assert.equal(stored.length, 25);

      const searchesBefore = sandbox.vault.requests.length;
      const perResource = await click('ex05-inject-resources', 'ex05-debug-resources');
      const summary = plain(perResource.payload) as { count: number; first: string; last: string; averageKg: number };
      assert.equal(summary.count, 25);
      assert.deepEqual(await shownBy('ex05-debug-resources'), summary);
      assert.ok(summary.first < summary.last, 'oldest and newest reading');
      const pages = sandbox.vault.requests.slice(searchesBefore).filter((r) => r.method === 'GET' && r.path.includes(jeanMuller.partition));
      assert.equal(pages.length, 3, '25 Observations, 10 per page: 3 pages followed');

      const merged = await click('ex05-inject-merge', 'ex05-debug-merge');
      assert.deepEqual(plain(merged.payload), summary, 'the merged Bundle holds the same Observations');
      assert.deepEqual(errors.messages, []);
    });

    it('06 routes a refused client, an unknown patient and a stale ETag to their catch nodes', async function () {
      await loadExample('06-error-handling-with-catch.json');
      const notReached = ['ex06-debug-token', 'ex06-debug-resolved', 'ex06-debug-saved'].map((id) => collect(id));

      const refused = await click('ex06-inject-client', 'ex06-debug-client');
      assert.equal(refused.statusCode, 401);
      assert.match((refused.error as { message: string }).message, /invalid_client/);

      const unknown = await click('ex06-inject-unknown', 'ex06-debug-unknown');
      assert.equal(unknown.statusCode, 404);
      assert.match((unknown.error as { message: string }).message, /no account/);

      const stale = await click('ex06-inject-stale', 'ex06-debug-stale');
      assert.equal(stale.statusCode, 412, JSON.stringify(stale.error));
      const source = (stale.error as { source?: { id?: string } }).source;
      assert.equal(source?.id, 'ex06-save-edit2', 'the second edit, not the first, is refused');
      const saved = await sandbox.vault.repository(scpPatient.partition).readResource<Observation>('Observation', (stale.payload as Resource).id as string);
      assert.equal(saved.valueQuantity?.value, 70.9, 'the first edit stays');
      assert.equal(saved.meta?.versionId, '2');

      for (const debug of notReached) assert.deepEqual(debug.messages, []);

      // Each debug node shows {statusCode, message} of what its catch node got.
      const client = (await shownBy('ex06-debug-client')) as { statusCode?: number; message?: string };
      assert.equal(client.statusCode, 401);
      assert.match(client.message ?? '', /invalid_client/);
      assert.equal(((await shownBy('ex06-debug-unknown')) as { statusCode?: number }).statusCode, 404);
      assert.equal(((await shownBy('ex06-debug-stale')) as { statusCode?: number }).statusCode, 412);
    });
  });
});

/** Resolves once localhost:port accepts a TCP connection (the tcp in node listens on deploy). */
async function waitForListener(port: number, timeoutMs = 5_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((answer) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        answer(true);
      });
      socket.once('error', () => answer(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
