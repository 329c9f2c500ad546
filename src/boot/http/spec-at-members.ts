// A deployment's boot spec at every member of the store (docs/cluster.md, "One address for machines"): the
// spec was rendered once, at deploy, with the deploying member's base URL in its kernel and initrd URLs and in
// its command line (kiln.url=, a preseed or kickstart URL). A member that serves the per-host script later,
// perhaps after the deploying member died, turns it into one boot per healthy member, its own first, which iPXE
// tries in turn (formatKernelScript). Install tokens are HMACs under a key every member derives from the store's
// data key, so a token URL moved to another member still opens there.
import type { BootDeployment } from '../boot-backend.js';

type BootSpec = BootDeployment['bootSpec'];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The member base URL `url` is under (`<base>/…`), the longest that matches, or null. */
function baseOf(url: string, known: readonly string[]): string | null {
  let found: string | null = null;
  for (const k of known) if (url.startsWith(`${k}/`) && (found === null || k.length > found.length)) found = k;
  return found;
}

/**
 * The spec once per base in `bases` (this member's first, then every healthy member's), each with the deploying
 * member's base URL replaced by that base in the kernel and initrd URLs and in the command line, which also
 * gets `kiln.urls=` (every base) when it names `kiln.url=` and no `kiln.urls=` (Kiln's own node image: its
 * agent fails over across them). `known`: every member URL that may be the deploying one (healthy or not).
 * The spec unchanged, alone, when its kernel is not under a known member URL (a mirror's installer) or there is
 * one base; bases holding a comma or a blank are left out (they could not be passed in `kiln.urls=`).
 */
export function specAtMembers(spec: BootSpec, bases: readonly string[], known: readonly string[]): BootSpec[] {
  const usable = [...new Set(bases)].filter((b) => !/[,\s]/.test(b));
  const from = baseOf(spec.kernel, [...known, ...usable]);
  if (from === null || usable.length < 2) return [spec];
  // Only a whole base: followed by a path, a blank, a comma or the end (…:80 is not a prefix of …:8080).
  const pattern = new RegExp(`${escape(from)}(?=[/\\s,]|$)`, 'g');
  const urls =
    /(^|\s)kiln\.url=/.test(spec.cmdline) && !/(^|\s)kiln\.urls=/.test(spec.cmdline)
      ? ` kiln.urls=${usable.join(',')}`
      : '';
  return usable.map((b) => {
    const move = (u: string) => (u.startsWith(`${from}/`) ? `${b}${u.slice(from.length)}` : u);
    return {
      kernel: move(spec.kernel),
      initrd: spec.initrd.map(move),
      cmdline: `${spec.cmdline.replace(pattern, () => b)}${urls}`,
    };
  });
}
