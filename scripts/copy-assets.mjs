// Copies what tsc does not: each node's editor HTML, its message catalogues and icons,
// so that dist/nodes/<type>/ holds everything Node-RED loads beside the built .js.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const source = 'nodes';
const target = join('dist', 'nodes');
const assetPattern = /\.(html|json|svg|png)$/;

function copyAssets(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (assetPattern.test(entry)) cpSync(path, join(target, path.slice(source.length + 1)), { recursive: true });
  }
}
copyAssets(source);

// Node-RED looks for icons only in an `icons` folder beside each node's .js file.
for (const type of readdirSync(source)) {
  if (type.startsWith('cara-') && statSync(join(source, type)).isDirectory()) {
    cpSync(join(source, 'icons'), join(target, type, 'icons'), { recursive: true });
  }
}
