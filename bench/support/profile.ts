/**
 * A CPU profile of this process while `work` runs (V8's sampling profiler through the
 * inspector), written as a .cpuprofile (open it in Chrome DevTools) and summarised: self time
 * by area (our library, our nodes, Node-RED, undici, Node's internals, GC) and the top functions.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface ProfileSummary {
  path: string;
  /** Lines ready to print: areas first, then the top functions. */
  top: string[];
}

function areaOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)' || name === '(program)' || name === '(root)') return name;
  if (url.includes('/dist/src/') || url.includes('/main/src/')) return 'cara library (src/)';
  if (url.includes('/dist/nodes/') || url.includes('/main/nodes/')) return 'cara nodes (nodes/)';
  if (url.includes('/undici/')) return 'undici';
  if (url.includes('@node-red') || url.includes('/node-red/')) return 'Node-RED runtime';
  if (url.includes('/bench/')) return 'bench harness';
  if (url.startsWith('node:') || url === '') return 'Node.js internals (TLS, streams, timers, native)';
  if (url.includes('/node_modules/')) return `other packages`;
  return 'other';
}

export async function profileWhile<T>(dir: string, name: string, work: () => Promise<T>): Promise<ProfileSummary> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  let failure: unknown;
  try {
    await work();
  } catch (err) {
    failure = err; // stop the profiler first, so the session does not keep sampling
  }
  const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
  session.disconnect();
  if (failure !== undefined) throw failure;

  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.cpuprofile`);
  writeFileSync(path, JSON.stringify(profile));

  const totalHits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0) || 1;
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
    const key = `${functionName || '(anonymous)'} ${url ? `${basename(url)}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const pct = (hits: number): string => `${((hits / totalHits) * 100).toFixed(1).padStart(5)}%`;
  const sorted = (m: Map<string, number>, n: number): Array<[string, number]> => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  const top = [
    'self time by area:',
    ...sorted(byArea, 10).map(([area, hits]) => `  ${pct(hits)}  ${area}`),
    'top functions (self time):',
    ...sorted(byFunction, 15).map(([fn, hits]) => `  ${pct(hits)}  ${fn}`),
  ];
  return { path, top };
}
