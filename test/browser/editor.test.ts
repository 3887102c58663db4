/**
 * The editor in a real browser: Debian's chromium (playwright-core) against a real Node-RED
 * that loads this package (built, dist/) and the local CARA sandbox over real mTLS.
 *
 * One suite, one Node-RED, one browser; the tests build on each other like a user's session:
 * place the nodes, configure the connection (certificate files uploaded, test connection), deploy
 * and run a flow, import an example, then look at the editor in French and German. Screenshots of
 * the main dialogs go to test/screenshots/ (the README shows them).
 *
 * Needs /usr/bin/chromium (apt-get install -y chromium) and playwright-core; without them the
 * suite is skipped locally, and fails when CI is set.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { SANDBOX_CLIENTS } from '../../sandbox/index';
import { launchChromium, missingBrowser } from './support/chromium';
import { EditorPage } from './support/editor-page';
import { REPO_ROOT, startEditorStack, type EditorStack } from './support/editor-stack';

const FLOW_TYPES = ['cara-token', 'cara-resolve-account', 'cara-fhir'] as const;
const VIEWPORT = { width: 1400, height: 900 };

/**
 * A message catalogue as Node-RED serves it (the built copy in dist/); undefined when the
 * language has no catalogue in the sources either.
 */
function catalogue(type: string, lang: string): Record<string, unknown> | undefined {
  const file = join(REPO_ROOT, 'dist', 'nodes', type, 'locales', lang, `${type}.json`);
  if (!existsSync(file)) {
    if (existsSync(join(REPO_ROOT, 'nodes', type, 'locales', lang))) throw new Error(`${file} is missing: run \`npm run build\``);
    return undefined;
  }
  return (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>)[type];
}

function message(messages: Record<string, unknown> | undefined, key: string): string | undefined {
  let value: unknown = messages;
  for (const part of key.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** What a user reads in an element (HTML or SVG): its text with whitespace collapsed. */
async function textOf(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** Presses "Test connection" in the open cara-config dialog and reads the outcome. */
async function testConnection(page: Page): Promise<{ state: string | null; text: string }> {
  const result = page.locator('#cara-config-test-result');
  await page.locator('#cara-config-test-connection').click();
  await page.locator('#cara-config-test-result[data-result="ok"], #cara-config-test-result[data-result="failed"]').waitFor({ timeout: 20000 });
  return { state: await result.getAttribute('data-result'), text: await result.innerText() };
}

describe('the editor in a real browser (chromium)', function () {
  this.timeout(60000);
  // Each test builds on the one before: after a failure the rest would only repeat it.
  this.bail(true);
  let stack: EditorStack;
  let browser: Browser;
  let context: BrowserContext;
  let editor: EditorPage;
  /** Node ids on the first flow, filled in as the tests place them. */
  const ids: Record<string, string> = {};

  before(async function () {
    const missing = missingBrowser();
    if (missing) {
      if (process.env.CI) throw new Error(`browser tests cannot run: ${missing}`);
      console.warn(`    skipped: ${missing}`);
      this.skip();
    }
    this.timeout(90000);
    const t0 = Date.now();
    [stack, browser] = await Promise.all([startEditorStack(), launchChromium()]);
    const t1 = Date.now();
    context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-US' });
    editor = await EditorPage.open(context, stack.url);
    console.log(`      (sandbox + Node-RED + chromium ${((t1 - t0) / 1000).toFixed(1)} s, editor loaded ${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  });

  after(async function () {
    await browser?.close();
    await stack?.stop();
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    // On failure, Node-RED's own log says most (a node that did not load, a deploy error), and a
    // picture of the page (git-ignored *.tmp.png) shows where the editor stood.
    if (stack) console.error(stack.output().split('\n').slice(-40).join('\n'));
    if (editor) console.error(`    the page: ${await editor.screenshot('failure.tmp').catch((err: Error) => err.message)}`);
  });

  it('lists the CARA nodes in the palette under CARA and places them on the workspace', async function () {
    const category = editor.page.locator('#red-ui-palette-base-category-CARA');
    for (const type of FLOW_TYPES) {
      assert.equal(await category.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).count(), 1, `${type} in the CARA category`);
    }
    // The connection is a configuration node: not in the palette, created from a node's dialog.
    assert.equal(await editor.typeCategory('cara-config'), 'config');
    assert.equal(await editor.paletteEntry('cara-config').count(), 0);

    await editor.filterPalette('cara');
    await editor.paletteEntry('inject').waitFor({ state: 'hidden' });
    ids.token = await editor.placeFromPalette('cara-token', 360, 120);
    ids.resolve = await editor.placeFromPalette('cara-resolve-account', 360, 220);
    ids.fhir = await editor.placeFromPalette('cara-fhir', 600, 220);
    await editor.filterPalette('inject');
    ids.inject = await editor.placeFromPalette('inject', 140, 120);
    await editor.filterPalette('debug');
    ids.debug = await editor.placeFromPalette('debug', 600, 120);
    await editor.filterPalette('');

    for (const type of FLOW_TYPES) assert.equal((await editor.nodes({ type })).length, 1, `one ${type} on the workspace`);
    for (const id of Object.values(ids)) assert.ok(await editor.shape(id).isVisible(), `node ${id} drawn`);
    assert.equal(await textOf(editor.shape(ids.token).locator('.red-ui-flow-node-label')), 'get token');
  });

  it('configures a connection to the sandbox in the cara-config dialog: certificate files uploaded, test connection, add', async function () {
    await editor.openNode(ids.token);
    await editor.openConfigFromField('config', 'add');
    const page = editor.page;
    await page.locator('#node-config-input-name').fill('CARA sandbox (browser test)');
    await page.locator('#node-config-input-environment').selectOption('sandbox');
    await page.locator('#node-config-input-sandboxPort').fill(String(stack.sandboxPort));
    await page.locator('#node-config-input-sandboxPort').dispatchEvent('change');
    await page.locator('#node-config-input-clientId').fill(stack.client.clientId);
    await page.locator('#node-config-input-scope').fill(stack.client.scopes.join(' '));
    await page.locator('#node-config-input-certificateSource').selectOption('pem');
    await page.locator('#cara-cert-file').setInputFiles(stack.client.certFile);
    await page.locator('#cara-key-file').setInputFiles(stack.client.keyFile);
    await page.locator('#cara-ca-file').setInputFiles(stack.client.caFile);

    // The files are read in the browser: the certificate and CA appear, the key only as "loaded".
    await page.waitForFunction(() => {
      const value = (selector: string): string => (document.querySelector(selector) as HTMLTextAreaElement | null)?.value ?? '';
      return value('#node-config-input-certPem').includes('BEGIN CERTIFICATE') && value('#node-config-input-caPem').includes('BEGIN CERTIFICATE');
    });
    await page.locator('#cara-key-state').filter({ hasText: /\S/ }).waitFor();
    // The preview of the sandbox URLs follows the port.
    await page.waitForFunction(
      (port) => (document.querySelector('#node-config-input-issuer') as HTMLInputElement | null)?.value === `https://localhost:${port}/realms/cara`,
      stack.sandboxPort,
    );

    // Another client's id with this certificate: the IAM refuses it, and the dialog says why.
    const other = SANDBOX_CLIENTS.find((c) => c.clientId !== stack.client.clientId);
    assert.ok(other);
    await page.locator('#node-config-input-clientId').fill(other.clientId);
    const refused = await testConnection(page);
    assert.equal(refused.state, 'failed', `test connection with another client's id: ${refused.text}`);
    assert.match(refused.text, /invalid_client|certificate/i);
    assert.doesNotMatch(refused.text, /BEGIN|eyJ[\w-]+\./, 'no secret in the failure');
    await editor.screenshot('cara-config-test-connection-refused', page.locator('#cara-config-test-result'));

    await page.locator('#node-config-input-clientId').fill(stack.client.clientId);
    const { state, text } = await testConnection(page);
    const result = page.locator('#cara-config-test-result');
    assert.equal(state, 'ok', `test connection: ${text}`);
    assert.match(text, /token ok/);
    assert.match(text, /ns:cara:scp\.Contributor/);
    assert.doesNotMatch(text, /eyJ[\w-]+\./, 'no token in the result');

    await result.scrollIntoViewIfNeeded();
    await editor.screenshot('cara-config-test-connection', page.locator('.red-ui-tray').last());
    await editor.screenshotTray('cara-config-dialog');
    await editor.closeConfig();

    // Back in the cara-token dialog, the new connection is selected.
    const selected = await page.locator('#node-input-config option:checked').innerText();
    assert.match(selected, /CARA sandbox \(browser test\)/);
    await editor.screenshotTray('cara-token-dialog');
    await editor.closeNode();

    const configs = await editor.nodes({ type: 'cara-config' });
    assert.equal(configs.length, 1);
    const token = await editor.node(ids.token);
    assert.equal(token?.config, configs[0].id);
  });

  it('shows the cara-resolve-account and cara-fhir dialogs with the connection', async function () {
    await editor.openNode(ids.resolve);
    // Placed before the connection existed: the user picks it.
    await editor.chooseConfig('config', 'CARA sandbox (browser test)');
    assert.ok(await editor.page.locator('#node-input-unknownPatient').isVisible());
    await editor.screenshotTray('cara-resolve-account-dialog');
    await editor.closeNode();

    await editor.openNode(ids.fhir);
    await editor.chooseConfig('config', 'CARA sandbox (browser test)');
    // A search shows the paging rows; the dialog shows only the fields of the chosen interaction.
    await editor.page.locator('#node-input-interaction').selectOption('search');
    await editor.typedInput('node-input-resourceType').fill('CarePlan');
    await editor.page.locator('#node-input-paging').selectOption({ index: 1 });
    assert.ok(await editor.page.locator('.cara-fhir-row-bounds').first().isVisible(), 'paging bounds shown for paged search');
    assert.ok(await editor.page.locator('.cara-fhir-row-resourceId').first().isHidden(), 'no id field for a search');
    await editor.screenshotTray('cara-fhir-dialog');
    await editor.closeNode();
    assert.equal(await textOf(editor.shape(ids.fhir).locator('.red-ui-flow-node-label')), 'search CarePlan');
  });

  it('deploys inject -> cara token -> debug and shows the result in the debug sidebar', async function () {
    const page = editor.page;
    await editor.wire(ids.inject, ids.token);
    await editor.wire(ids.token, ids.debug);
    // The debug node shows msg.token (what the token is), never the token itself.
    await editor.openNode(ids.debug);
    await editor.typedInput('node-input-typed-complete').fill('token');
    await page.locator('#node-input-name').fill('token info');
    await editor.closeNode();
    assert.deepEqual(await editor.wiredTo(ids.inject), [ids.token]);
    assert.deepEqual(await editor.wiredTo(ids.token), [ids.debug]);

    await editor.deploy();
    // The uploaded certificate and key went into the node's credentials, not into the flow.
    const flows = await (await fetch(new URL('flows', stack.url))).text();
    assert.match(flows, /CARA sandbox \(browser test\)/);
    assert.doesNotMatch(flows, /BEGIN|PRIVATE KEY/, 'no PEM in the deployed flows');
    const sidebar = await editor.showDebugSidebar();
    await editor.pressInject(ids.inject);
    const shown = editor.debugMessagesFrom('token info').first();
    await shown.waitFor({ timeout: 20000 });
    const text = await shown.innerText();
    assert.match(text, /msg\.token/);
    assert.match(text, /Bearer/);
    assert.doesNotMatch(text, /eyJ[\w-]+\./, 'no token in the debug sidebar');
    await page.waitForFunction((id) => /token ok/.test(document.getElementById(id)?.textContent ?? ''), ids.token);
    // Open the message so the picture shows its properties.
    await shown.locator('.red-ui-debug-msg-element .red-ui-debug-msg-object-handle, .red-ui-debug-msg-payload .red-ui-debug-msg-expandable').first().click().catch(() => undefined);
    await editor.screenshot('debug-sidebar-token');
    assert.ok(await sidebar.isVisible());
  });

  it('imports an example through Import > Examples > node-red-contrib-cara and runs it', async function () {
    const page = editor.page;
    const flow = await editor.importExample('node-red-contrib-cara', '01-get-and-inspect-token');
    const imported = await editor.nodes({ z: flow });
    const getToken = imported.find((n) => n.type === 'cara-token' && n.name === 'get token');
    const inject = imported.find((n) => n.type === 'inject' && n.name === 'get token');
    assert.ok(getToken && inject, `example nodes imported: ${imported.map((n) => `${n.type} ${n.name ?? ''}`).join(', ')}`);
    const configs = await editor.nodes({ type: 'cara-config' });
    assert.deepEqual(configs.map((n) => n.name).sort(), ['CARA sandbox', 'CARA sandbox (browser test)']);

    // The example's connection expects the sandbox on 8443: point it at this test's sandbox.
    await editor.openNode(getToken.id);
    await editor.openConfigFromField('config', 'edit');
    assert.equal(await page.locator('#node-config-input-environment').inputValue(), 'sandbox');
    await page.locator('#node-config-input-sandboxPort').fill(String(stack.sandboxPort));
    await page.locator('#node-config-input-sandboxPort').dispatchEvent('change');
    await editor.closeConfig();
    await editor.closeNode();

    await editor.deploy();
    await editor.showDebugSidebar();
    await editor.clearDebug();
    await editor.pressInject(inject.id);
    const shown = editor.debugMessagesFrom('msg.token (no token value)').first();
    await shown.waitFor({ timeout: 20000 });
    const text = await shown.innerText();
    assert.match(text, /Bearer/);
    assert.doesNotMatch(text, /eyJ[\w-]+\./, 'no token in the debug sidebar');
    await editor.screenshot('example-get-token');
  });

  for (const { lang, how } of [
    { lang: 'fr', how: 'the browser language (fr-FR)' },
    { lang: 'de', how: 'the editor language setting (View > Language)' },
  ] as const) {
    it(`shows our labels in ${lang === 'fr' ? 'French' : 'German'}, chosen by ${how}`, async function () {
      const token = catalogue('cara-token', lang);
      const config = catalogue('cara-config', lang);
      if (!token || !config) this.skip(); // no catalogue for this language in the sources: nothing to check
      const localised = await browser.newContext({ viewport: VIEWPORT, locale: lang === 'fr' ? 'fr-FR' : 'en-US' });
      try {
        // User settings > View > Language is kept in the browser's localStorage.
        if (lang === 'de') await localised.addInitScript("localStorage.setItem('editor-language', 'de')");
        const other = await EditorPage.open(localised, stack.url);

        for (const type of FLOW_TYPES) {
          const expected = message(catalogue(type, lang), 'paletteLabel');
          if (!expected) continue;
          assert.equal(await textOf(other.paletteEntry(type).locator('.red-ui-palette-label')), expected, `${type} palette label`);
        }
        // The workspace shows the deployed flow, labelled from the catalogue.
        assert.equal(await textOf(other.shape(ids.token).locator('.red-ui-flow-node-label')), message(token, 'nodeLabel.get'));

        await other.openNode(ids.token);
        const labels = other.page.locator('.red-ui-tray').last();
        assert.equal(await textOf(labels.locator('label[for="node-input-action"] span')), message(token, 'label.action'));
        assert.equal(await textOf(other.page.locator('#node-input-action option:checked')), message(token, 'action.get'));
        await other.screenshotTray(`cara-token-dialog-${lang}`);

        await other.openConfigFromField('config', 'edit');
        assert.equal(await textOf(other.page.locator('label[for="node-config-input-environment"] span')), message(config, 'label.environment'));
        assert.equal(await textOf(other.page.locator('#node-config-input-environment option:checked')), message(config, 'environment.sandbox'));
        assert.equal(await textOf(other.page.locator('#cara-config-test-connection')), message(config, 'test.button'));
        // The stored key is not shown again, only that it is there.
        assert.equal(await textOf(other.page.locator('#cara-key-state')), message(config, 'label.loaded'));
        const { state, text } = await testConnection(other.page);
        assert.equal(state, 'ok', `test connection with the deployed secrets: ${text}`);
        await other.screenshotTray(`cara-config-dialog-${lang}`);
      } finally {
        await localised.close();
      }
    });
  }
});
