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

/** `node-image`: the discovery/installer image is built (warn while it builds, fail when its build failed). */
export function nodeImageCheck(o: { state: () => NodeImageState }): Check {
  return {
    name: 'node-image',
    async run() {
      const s = o.state();
      switch (s.kind) {
        case 'off':
          return ok('node-image is off: discovery boots need an image from elsewhere');
        case 'building':
          return warn(
            'the node image is still being built; discovery boots wait for it',
            'wait for "node image ready" in the log',
          );
        case 'ready':
          return (await readable(s.dir))
            ? ok(`node image ready in ${s.dir}`)
            : fail(`node image directory ${s.dir} is gone`, 'restart kiln serve to rebuild it');
        case 'failed':
          return fail(
            `the node image could not be built: ${s.error}`,
            'run `kiln image build-discovery` on this machine to see why (Debian mirror reachable? apt sources?), then restart kiln serve',
          );
      }
    },
  };
}
