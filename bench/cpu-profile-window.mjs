// Sums a .cpuprofile's samples between two times (seconds since the profile's start) by function: self and
// inclusive time, top N. For laying a profile against the loop probe's seconds (bench/loop-probe.mjs).
// Run: node bench/cpu-profile-window.mjs FILE.cpuprofile FROM TO [N]
import { readFileSync } from 'node:fs';
const [file, from = '0', to = '1e9', topN = '30'] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
let t = p.startTime;
const self = new Map();
const total = new Map();
let all = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i];
  const s = (t - p.startTime) / 1e6;
  if (s < Number(from) || s > Number(to)) continue;
  const d = p.timeDeltas[i + 1] ?? 0;
  all += d;
  const n = byId.get(p.samples[i]);
  const key = (n) =>
    `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber}`;
  self.set(key(n), (self.get(key(n)) ?? 0) + d);
  const seen = new Set();
  for (let id = n.id; id !== undefined; id = parent.get(id)) {
    const k = key(byId.get(id));
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + d);
  }
}
console.log(
  `window ${from}-${to} s: ${(all / 1000).toFixed(0)} ms sampled; profile length ${((t - p.startTime) / 1e6).toFixed(1)} s`,
);
console.log('self:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topN)))
  console.log(`${((100 * v) / all).toFixed(1).padStart(5)}%  ${k}`);
console.log('total (inclusive):');
for (const [k, v] of [...total].sort((a, b) => b[1] - a[1]).slice(0, Number(topN)))
  console.log(`${((100 * v) / all).toFixed(1).padStart(5)}%  ${k}`);
