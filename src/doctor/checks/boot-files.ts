import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fail, ok, warn, type Check } from '../check.js';

const readable = (p: string) =>
  access(p, constants.R_OK).then(
    () => true,
    () => false,
  );

/**
 * `ipxe-binaries`: every boot file DHCP hands out is a readable file in
 * `ipxe-dir`, which /ipxe/ and TFTP serve. A missing `required` one (BIOS and
 * x86-64 UEFI) fails; a missing `optional` one warns (Debian 12's ipxe
 * package has no `ipxe-arm64.efi`: arm64 machines then cannot boot).
 */
export function ipxeCheck(o: {
  dir: string;
  required: readonly string[];
  optional?: readonly string[];
  readable?: (p: string) => Promise<boolean>;
}): Check {
  const can = o.readable ?? readable;
  const missing = async (files: readonly string[]) => {
    const out: string[] = [];
    for (const f of [...new Set(files)]) if (!(await can(join(o.dir, f)))) out.push(f);
    return out;
  };
  const fix = `install Debian's ipxe package (apt-get install ipxe; scripts/install-debian-packages.sh) or set --ipxe-dir (KILN_IPXE_DIR) to a directory holding them, then restart kiln serve`;
  return {
    name: 'ipxe-binaries',
    async run() {
      const req = await missing(o.required);
      if (req.length > 0) return fail(`missing or unreadable in ipxe-dir ${o.dir}: ${req.join(', ')}`, fix);
      const opt = await missing(o.optional ?? []);
      if (opt.length > 0)
        return warn(
          `${o.required.join(', ')} readable in ${o.dir}; missing: ${opt.join(', ')} (machines asking for it cannot boot)`,
          `put ${opt.join(', ')} into ${o.dir} (Debian 13's ipxe package has ipxe-arm64.efi; scripts/install-test-peers.sh shows how) or set dhcp.bootFiles`,
        );
      return ok(`${[...o.required, ...(o.optional ?? [])].join(', ')} readable in ${o.dir}`);
    },
  };
}

/** Where the node image build stands: off, building, ready, or failed with a message. */
export type NodeImageState =
  { kind: 'off' } | { kind: 'building' } | { kind: 'ready'; dir: string } | { kind: 'failed'; error: string };

/**
 * What the member serves without a version (src/discovery/node-image-source.ts `served()`): its own image, its own
 * earlier build of the version recorded last, or another member's recorded version with the files fetched so far.
 */
export type NodeImageServed =
  | { source: 'own'; version: string | null }
  | { source: 'built'; version: string }
  | { source: 'peer'; version: string; recordedBy: string; fetched: string[]; missing: string[] };

/** One clause saying what is served when this member has no image of its own ready. Pure. */
export function describeServed(s: NodeImageServed | null): string {
  if (!s) return 'no member has recorded a node image, so discovery boots through this member get 404 until one does';
  if (s.source === 'own') return `serving its own image${s.version ? ` (version ${s.version})` : ''}`;
  if (s.source === 'built') return `serving version ${s.version} from its own earlier build`;
  const fetched = s.fetched.length ? `fetched from peers and checked: ${s.fetched.join(', ')}` : '';
  const missing = s.missing.length
    ? `not fetched yet: ${s.missing.join(', ')} (fetched from a peer at the first request)`
    : '';
  return `serving version ${s.version} recorded by ${s.recordedBy}; ${[fetched, missing].filter(Boolean).join('; ')}`;
}

/**
 * `node-image`: the discovery/installer image is built (warn while it builds, fail when its build failed); without
 * an image of its own, the detail says what the member serves instead (a peer's version, fetched or not yet).
 */
export function nodeImageCheck(o: {
  state: () => NodeImageState;
  served?: () => Promise<NodeImageServed | null>;
}): Check {
  const served = async () => (o.served ? `; ${describeServed(await o.served())}` : '');
  return {
    name: 'node-image',
    async run() {
      const s = o.state();
      switch (s.kind) {
        case 'off':
          return ok(`node-image is off here${(await served()) || ': discovery boots need an image from elsewhere'}`);
        case 'building':
          return warn(
            `the node image is still being built${(await served()) || '; discovery boots wait for it'}`,
            'wait for "node image ready" in the log',
          );
        case 'ready': {
          if (!(await readable(s.dir)))
            return fail(`node image directory ${s.dir} is gone`, 'restart kiln serve to rebuild it');
          const own = o.served ? await o.served() : null;
          return ok(
            `node image ready in ${s.dir}${own?.source === 'own' && own.version ? ` (own build, version ${own.version})` : ''}`,
          );
        }
        case 'failed':
          return fail(
            `the node image could not be built: ${s.error}${await served()}`,
            'run `kiln image build-discovery` on this machine to see why (Debian mirror reachable? apt sources?), then restart kiln serve',
          );
      }
    },
  };
}
