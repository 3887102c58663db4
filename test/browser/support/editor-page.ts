/**
 * The Node-RED editor as a user drives it: palette, workspace, edit dialogs, deploy, the debug
 * sidebar, Import > Examples. Every action goes through the page's own DOM events (mouse,
 * keyboard, file inputs); `window.RED` is only read, to learn the id of a node just placed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { REPO_ROOT } from './editor-stack';

export const SCREENSHOT_DIR = join(REPO_ROOT, 'test', 'screenshots');

/**
 * Where a screenshot goes. The committed pictures (README) change only when asked for with
 * UPDATE_SCREENSHOTS=1; an ordinary run writes <name>.tmp.png beside them (git-ignored), so a
 * test run never dirties the tree with new ports and clock times.
 */
export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const committed = process.env.UPDATE_SCREENSHOTS === '1' && !name.endsWith('.tmp');
  return join(SCREENSHOT_DIR, committed ? `${name}.png` : `${name.replace(/\.tmp$/, '')}.tmp.png`);
}

/** What the tests read from a node in the editor's model. */
export interface EditorNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  [property: string]: unknown;
}

/** The few read-only parts of the editor's global `RED` the tests look at. */
interface RedGlobal {
  nodes: {
    eachNode(visit: (node: EditorNode) => void): void;
    eachConfig(visit: (node: EditorNode) => void): void;
    getType(type: string): { category?: string } | null;
    node(id: string): EditorNode | null;
    filterLinks(filter: { source?: { id: string } }): Array<{ sourcePort: number; target: { id: string } }>;
    dirty(): boolean;
  };
  workspaces: { active(): string };
}

export class EditorPage {
  private constructor(readonly page: Page) {}

  /** Opens the editor in a new page of `context` and waits until our palette entries exist. */
  static async open(context: BrowserContext, url: string): Promise<EditorPage> {
    // tsx (esbuild) wraps named functions in __name(): functions sent to the page need it too.
    await context.addInitScript('globalThis.__name = globalThis.__name || ((fn) => fn);');
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(url);
    await page.locator('.red-ui-palette-node[data-palette-type="cara-token"]').waitFor({ state: 'attached', timeout: 30000 });
    // The workspace is usable once the loading spinner is gone.
    await page.locator('#red-ui-main-container').waitFor({ state: 'visible' });
    await page.locator('.red-ui-loading').waitFor({ state: 'detached' }).catch(() => undefined);
    return new EditorPage(page);
  }

  // ------------------------------------------------------------------ model (read only)
  async nodes(filter: Partial<EditorNode> = {}): Promise<EditorNode[]> {
    return this.page.evaluate((wanted) => {
      const RED = (window as unknown as { RED: RedGlobal }).RED;
      const found: EditorNode[] = [];
      const keep = (node: EditorNode): void => {
        if (Object.entries(wanted).every(([key, value]) => node[key] === value)) {
          found.push({ id: node.id, type: node.type, z: node.z, name: node.name });
        }
      };
      RED.nodes.eachNode(keep);
      RED.nodes.eachConfig(keep);
      return found;
    }, filter);
  }

  async node(id: string): Promise<EditorNode | null> {
    return this.page.evaluate((nodeId) => {
      const node = (window as unknown as { RED: RedGlobal }).RED.nodes.node(nodeId);
      // Only plain values cross the page boundary.
      return node ? (JSON.parse(JSON.stringify(node, (key, value: unknown) => (key.startsWith('_') ? undefined : value))) as EditorNode) : null;
    }, id);
  }

  /** The ids a node's output port is wired to. */
  async wiredTo(id: string, output = 0): Promise<string[]> {
    return this.page.evaluate(
      ({ nodeId, port }) =>
        (window as unknown as { RED: RedGlobal }).RED.nodes
          .filterLinks({ source: { id: nodeId } })
          .filter((link) => link.sourcePort === port)
          .map((link) => link.target.id),
      { nodeId: id, port: output },
    );
  }

  async typeCategory(type: string): Promise<string | undefined> {
    return this.page.evaluate((t) => (window as unknown as { RED: RedGlobal }).RED.nodes.getType(t)?.category, type);
  }

  // ------------------------------------------------------------------ palette and workspace
  paletteEntry(type: string): Locator {
    return this.page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`);
  }

  /** Types in the palette filter box, as a user looking for a node does. */
  async filterPalette(text: string): Promise<void> {
    const input = this.page.locator('#red-ui-palette-search input');
    await input.fill('');
    await input.pressSequentially(text);
  }

  /** Drags a palette entry onto the workspace at (x, y) relative to the canvas; returns the new node's id. */
  async placeFromPalette(type: string, x: number, y: number): Promise<string> {
    const before = new Set((await this.nodes({ type })).map((n) => n.id));
    const entry = this.paletteEntry(type);
    await entry.scrollIntoViewIfNeeded();
    const from = await entry.boundingBox();
    const chart = await this.page.locator('#red-ui-workspace-chart').boundingBox();
    if (!from || !chart) throw new Error(`palette entry ${type} or workspace not visible`);
    await this.page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await this.page.mouse.down();
    await this.page.mouse.move(chart.x + x, chart.y + y, { steps: 12 });
    await this.page.mouse.up();
    const added = (await this.nodes({ type })).filter((n) => !before.has(n.id));
    if (added.length !== 1) throw new Error(`dragging ${type} onto the workspace added ${added.length} nodes`);
    return added[0].id;
  }

  /** The node's shape on the workspace (an SVG group whose id is the node id). */
  shape(id: string): Locator {
    return this.page.locator(`#red-ui-workspace-chart g.red-ui-flow-node-group[id="${id}"]`);
  }

  /** Draws a wire from the (first) output port of one node to the input port of another. */
  async wire(fromId: string, toId: string, output = 0): Promise<void> {
    const out = this.shape(fromId).locator('.red-ui-flow-port-output .red-ui-flow-port').nth(output);
    const into = this.shape(toId).locator('.red-ui-flow-port-input .red-ui-flow-port');
    const a = await out.boundingBox();
    const b = await into.boundingBox();
    if (!a || !b) throw new Error(`no ports to wire ${fromId} -> ${toId}`);
    await this.page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await this.page.mouse.down();
    await this.page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 10 });
    await this.page.mouse.up();
  }

  // ------------------------------------------------------------------ edit dialogs
  /** Double-clicks a node and waits for its edit tray. */
  async openNode(id: string): Promise<Locator> {
    await this.shape(id).locator('rect.red-ui-flow-node').dblclick();
    const tray = this.page.locator('.red-ui-tray').last();
    await this.page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
    // Node-RED slides the tray in: wait until it stops moving before anyone takes a picture.
    await this.settle(tray);
    return tray;
  }

  async closeNode(): Promise<void> {
    await this.page.locator('#node-dialog-ok').click();
    await this.page.locator('#node-dialog-ok').waitFor({ state: 'detached' });
  }

  async cancelNode(): Promise<void> {
    await this.page.locator('#node-dialog-cancel').click();
    await this.page.locator('#node-dialog-cancel').waitFor({ state: 'detached' });
  }

  /**
   * Opens the config node dialog from a node dialog's config field: its "+" button (a new one)
   * or its pencil (the selected one). Node-RED 4 names them node-input-btn-<property>-add|edit.
   */
  async openConfigFromField(property: string, button: 'add' | 'edit'): Promise<Locator> {
    await this.page.locator(`#node-input-btn-${property}-${button}`).click();
    await this.page.locator('#node-config-dialog-ok').waitFor({ state: 'visible' });
    const tray = this.page.locator('.red-ui-tray').last();
    await this.settle(tray);
    return tray;
  }

  /** The text box a user types into for a TypedInput field (the original input, hidden, precedes it). */
  typedInput(id: string): Locator {
    return this.page.locator(`#${id} + .red-ui-typedInput-container input.red-ui-typedInput-input`);
  }

  /** Chooses a config node by its label in a node dialog's config field. */
  async chooseConfig(property: string, label: string): Promise<void> {
    const value = await this.page.locator(`#node-input-${property} option`, { hasText: label }).getAttribute('value');
    if (!value) throw new Error(`no ${label} in the ${property} field`);
    await this.page.locator(`#node-input-${property}`).selectOption(value);
  }

  async closeConfig(): Promise<void> {
    await this.page.locator('#node-config-dialog-ok').click();
    await this.page.locator('#node-config-dialog-ok').waitFor({ state: 'detached' });
    await this.settle(this.page.locator('.red-ui-tray').last());
  }

  /** Waits until an element's position is stable (trays and sidebars animate). */
  async settle(locator: Locator): Promise<void> {
    let last = '';
    for (let i = 0; i < 40; i++) {
      const box = await locator.boundingBox();
      const now = JSON.stringify(box);
      if (now === last) return;
      last = now;
      await this.page.waitForTimeout(100);
    }
  }

  // ------------------------------------------------------------------ import
  /**
   * Menu > Import > Examples > <module> > <example>, imported into a new flow and dropped on the
   * workspace. Returns the id of the new flow (tab).
   */
  async importExample(module: string, example: string): Promise<string> {
    const page = this.page;
    const before = await this.activeWorkspace();
    await page.locator('#red-ui-header-button-sidemenu').click();
    await page.locator('#menu-item-import').click();
    await page.locator('#red-ui-tab-red-ui-clipboard-dialog-import-tab-examples a.red-ui-tab-label').click();
    const examples = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    await examples.locator('.red-ui-treeList-label', { hasText: module }).click();
    await examples.locator('.red-ui-treeList-label', { hasText: example }).click();
    await page.locator('#red-ui-clipboard-dialog-import-opt-new').click();
    await this.screenshot('import-examples-dialog', page.locator('.ui-dialog:has(#red-ui-clipboard-dialog-ok)'));
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    await page.locator('#red-ui-clipboard-dialog-ok').waitFor({ state: 'hidden' });
    // Imported nodes follow the mouse until a click drops them.
    const chart = await page.locator('#red-ui-workspace-chart').boundingBox();
    if (!chart) throw new Error('workspace not visible');
    await page.mouse.move(chart.x + 160, chart.y + 60, { steps: 5 });
    await page.mouse.click(chart.x + 160, chart.y + 60);
    const after = await this.activeWorkspace();
    if (after === before) throw new Error(`importing ${example} opened no new flow`);
    return after;
  }

  async activeWorkspace(): Promise<string> {
    return this.page.evaluate(() => (window as unknown as { RED: RedGlobal }).RED.workspaces.active());
  }

  // ------------------------------------------------------------------ deploy, run, debug
  async deploy(): Promise<void> {
    const page = this.page;
    // The button turns "disabled" as soon as the POST starts (both editors): wait for its answer instead.
    const posted = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/flows'));
    posted.catch(() => undefined);
    await page.locator('#red-ui-header-button-deploy').click();
    // A deploy with invalid or unknown nodes asks for confirmation (a modal notification in
    // Node-RED 4 and 5): a test must notice, not click through it.
    const confirm = page.locator('#red-ui-deploy-dialog-confirm-deploy-deploy');
    // The loser of the race must not reject unhandled later.
    const asked = confirm.waitFor({ state: 'visible' }).then(() => 'confirm' as const, () => 'no-confirm' as const);
    const first = await Promise.race([posted.then(() => 'posted' as const), asked]);
    if (first === 'confirm') {
      const text = await page.locator('.red-ui-notification', { has: confirm }).innerText();
      throw new Error(`Deploy asked for confirmation: ${text}`);
    }
    const response = await posted;
    if (!response.ok()) throw new Error(`Deploy failed: HTTP ${response.status()} ${await response.text()}`);
  }

  /** Clicks the button on the left of an inject node. */
  async pressInject(id: string): Promise<void> {
    await this.shape(id).locator('.red-ui-flow-node-button-button').click();
  }

  async showDebugSidebar(): Promise<Locator> {
    const sidebar = this.page.locator('#red-ui-sidebar-content .red-ui-debug-content-list, .red-ui-sidebar-content .red-ui-debug-content-list').first();
    // Node-RED 5 shows the debug tab by default, and its tab button toggles: click only when hidden.
    // Node-RED 4: a tab link with an id; Node-RED 5: a tab-bar button with data-tab-id.
    if (!(await sidebar.isVisible())) {
      await this.page.locator('#red-ui-tab-debug-link-button, .red-ui-sidebar-tab-bar button[data-tab-id="debug"]').first().click();
    }
    await sidebar.waitFor({ state: 'visible' });
    return sidebar;
  }

  async clearDebug(): Promise<void> {
    await this.page.locator('#red-ui-sidebar-debug-clear').click();
  }

  /** The debug message sent by a given debug node (newest first). */
  debugMessagesFrom(debugNodeName: string): Locator {
    return this.page.locator('.red-ui-debug-msg').filter({ has: this.page.locator('.red-ui-debug-msg-name', { hasText: debugNodeName }) });
  }

  nodeStatus(id: string): Locator {
    return this.shape(id).locator('.red-ui-flow-node-status-label');
  }

  // ------------------------------------------------------------------ screenshots
  /**
   * A picture of the open edit dialog, cut below its last visible row: the window is made tall
   * enough for the whole dialog, then restored.
   */
  async screenshotTray(name: string, height = 1700): Promise<string> {
    const normal = this.page.viewportSize();
    if (!normal) throw new Error('no viewport');
    await this.page.setViewportSize({ width: normal.width, height });
    const tray = this.page.locator('.red-ui-tray').last();
    await this.settle(tray);
    try {
      const box = await tray.boundingBox();
      if (!box) throw new Error('no edit dialog open');
      const bottom = await tray.evaluate((element) => {
        const rows = Array.from(element.querySelectorAll('.red-ui-tray-body .form-row, .red-ui-tray-body .form-tips'));
        return Math.max(0, ...rows.map((row) => row.getBoundingClientRect()).filter((r) => r.height > 0).map((r) => r.bottom));
      });
      const clipHeight = Math.min(box.height, Math.max(200, bottom - box.y + 16));
      const path = screenshotPath(name);
      await this.page.mouse.move(1, 1);
      await this.page.screenshot({ path, clip: { x: box.x, y: box.y, width: box.width, height: clipHeight }, animations: 'disabled', caret: 'hide' });
      return path;
    } finally {
      await this.page.setViewportSize(normal);
      await this.settle(tray);
    }
  }

  /** Saves a picture of the whole page or of one element (see screenshotPath). */
  async screenshot(name: string, of?: Locator): Promise<string> {
    const path = screenshotPath(name);
    // The blinking caret and the mouse hover state would make pictures differ between runs.
    await this.page.mouse.move(1, 1);
    // Passing notifications ("Successfully deployed") would cover the flow tabs.
    const style = '#red-ui-notifications { display: none !important; }';
    if (of) await of.screenshot({ path, animations: 'disabled', caret: 'hide', style });
    else await this.page.screenshot({ path, animations: 'disabled', caret: 'hide', style });
    return path;
  }
}
