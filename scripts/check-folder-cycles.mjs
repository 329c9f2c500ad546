#!/usr/bin/env node
// Fails on an import cycle between domains: the folders directly under src/
// (src/boot/dhcp counts as boot). Reads dependency-cruiser's JSON from stdin
// or from the file named as the first argument:
//   depcruise src --config .dependency-cruiser.cjs -T json | node scripts/check-folder-cycles.mjs
// Files directly in src/ (the composition root) are not a domain and are left out, and so is
// test code (tests, conformance suites, scenarios, testdata/, testing/): a test may set up
// another domain's state; the module-level no-circular rule still covers it.
// Prints each cycle as one line, with one import per step that makes it.
import { readFileSync } from 'node:fs';

const input = readFileSync(process.argv[2] ?? 0, 'utf8');
const { modules } = JSON.parse(input);

const domainOf = (path) => /^src\/([^/]+)\//.exec(path)?.[1];
const isTestCode = (path) => /\.(test|conformance|scenario)\.ts$|\/(testdata|testing)\//.test(path);

/** domain → domain → one import (from → to) that makes the edge. */
const edges = new Map();
for (const m of modules) {
  const from = domainOf(m.source);
  if (from === undefined || isTestCode(m.source)) continue;
  for (const d of m.dependencies ?? []) {
    const to = domainOf(d.resolved);
    if (to === undefined || to === from) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, `${m.source} → ${d.resolved}`);
  }
}

// Tarjan's strongly connected components: each component of more than one domain holds a cycle.
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const components = [];
let next = 0;
function connect(v) {
  index.set(v, next);
  low.set(v, next);
  next++;
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
    if (!index.has(w)) {
      connect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) components.push(c.sort());
  }
}
for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v);

/** The shortest path from `a` back to `a` inside one component (breadth first). */
function shortestCycle(a, members) {
  const prev = new Map();
  const queue = [a];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
      if (!members.has(w)) continue;
      if (w === a) {
        const path = [a];
        for (let u = v; u !== a; u = prev.get(u)) path.unshift(u);
        path.unshift(a);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [a];
}

if (components.length === 0) {
  console.log(
    `no cycle between the ${new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])]).size} domains under src/`,
  );
  process.exit(0);
}
for (const c of components) {
  const members = new Set(c);
  const seen = new Set();
  console.log(`domain cycle among ${c.join(', ')}:`);
  for (const a of c) {
    const path = shortestCycle(a, members);
    const key = [...path.slice(1)].sort().join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    console.log(`  ${path.join(' → ')}`);
    for (let i = 0; i + 1 < path.length; i++) console.log(`    ${edges.get(path[i]).get(path[i + 1])}`);
  }
}
process.exit(1);
