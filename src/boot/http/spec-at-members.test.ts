import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Deployment } from '../../deploy/deployment.js';
import type { Host } from '../../inventory/host.js';
import type { Mac } from '../../net/mac.js';
import { renderHostScript } from './host-script.js';
import { specAtMembers } from './spec-at-members.js';

const A = 'http://10.9.0.1:8080';
const B = 'http://10.9.0.2:8080';
const C = 'http://10.9.0.3:8080';
// Rendered at deploy by A: the kiln-image profile's boot spec.
const kilnImage = {
  kernel: `${A}/boot/kiln/x86_64/vmlinuz`,
  initrd: [`${A}/boot/kiln/x86_64/initrd.img`],
  cmdline: `kiln.url=${A} kiln.mode=install kiln.mac=52:54:00:12:34:56`,
};

describe('specAtMembers', () => {
  it('one spec per healthy member, this one first, with the deploying member moved out of every URL', () => {
    const specs = specAtMembers(kilnImage, [B, C, A], [A, B, C]);
    assert.deepEqual(
      specs.map((s) => s.kernel),
      [`${B}/boot/kiln/x86_64/vmlinuz`, `${C}/boot/kiln/x86_64/vmlinuz`, `${A}/boot/kiln/x86_64/vmlinuz`],
    );
    assert.deepEqual(specs[0]!.initrd, [`${B}/boot/kiln/x86_64/initrd.img`]);
    assert.equal(
      specs[0]!.cmdline,
      `kiln.url=${B} kiln.mode=install kiln.mac=52:54:00:12:34:56 kiln.urls=${B},${C},${A}`,
    );
  });

  it('a deploying member that is dead (known, not healthy) is not tried', () => {
    const specs = specAtMembers(kilnImage, [B, C], [A, B, C]);
    assert.deepEqual(
      specs.map((s) => s.kernel),
      [`${B}/boot/kiln/x86_64/vmlinuz`, `${C}/boot/kiln/x86_64/vmlinuz`],
    );
    assert.ok(specs.every((s) => !s.cmdline.includes(A)));
  });

  it('an installer from a mirror, or one member, is left as it is', () => {
    const mirror = {
      kernel: 'http://deb.example/linux',
      initrd: ['http://deb.example/initrd.gz'],
      cmdline: 'auto=true',
    };
    assert.deepEqual(specAtMembers(mirror, [A, B], [A, B]), [mirror]);
    assert.deepEqual(specAtMembers(kilnImage, [A], [A, B]), [kilnImage]);
  });

  it('moves a whole base only (…:80 is not a prefix of …:8080) and keeps a preseed URL at the member booted', () => {
    const short = 'http://10.9.0.1:80';
    const di = {
      kernel: `${short}/repo/installer/debian-12/linux`,
      initrd: [`${short}/repo/installer/debian-12/initrd.gz`],
      cmdline: `auto=true url=${short}/api/v1/node/install/t0k/preseed.cfg other=${A}/x`,
    };
    const specs = specAtMembers(di, [B, short], [short, A, B]);
    assert.equal(specs[0]!.cmdline, `auto=true url=${B}/api/v1/node/install/t0k/preseed.cfg other=${A}/x`);
    assert.ok(!specs[0]!.cmdline.includes('kiln.urls='), 'no kiln.url= in it: no kiln.urls= added');
  });

  it('leaves out a base that holds a comma or a blank', () => {
    assert.deepEqual(
      specAtMembers(kilnImage, [A, 'http://x,y'], [A]).map((s) => s.kernel),
      [kilnImage.kernel],
    );
  });
});

describe('renderHostScript: a deploying host boots its installer from each member in turn', () => {
  const host: Host = {
    id: 'h1',
    name: 'node-1',
    state: 'deploying',
    stateReason: null,
    failedStage: null,
    profile: 'kiln-image',
    firmware: 'bios',
    nics: [{ mac: '52:54:00:12:34:56' as Mac, name: null, boot: true }],
    tags: [],
    labels: {},
    facts: {},
    hardwareHash: null,
    needsAttention: false,
    bmc: null,
    version: 1,
    createdAt: '',
    updatedAt: '',
  };
  const d: Deployment = {
    id: 'd1',
    hostId: 'h1',
    profile: 'kiln-image',
    files: {},
    status: 'deploying',
    createdAt: '',
    createdBy: '',
    installedAt: null,
    completedAt: null,
    imageSpec: null,
    bootSpec: kilnImage,
  };

  it('kernel, initrd and boot at B, then at C; the retry block after the last', () => {
    const { script, purpose } = renderHostScript({
      host,
      deployment: d,
      query: { platform: 'pcbios', arch: 'x86_64' },
      baseUrl: B,
      baseUrls: [B, C],
      knownBaseUrls: [A, B, C],
      nodeImage: { arch: 'x86_64' },
      retry: { url: `${B}/boot/host.ipxe?mac=x`, delaySeconds: 5, alternates: [`${C}/boot/host.ipxe?mac=x`] },
      nodeImageArgs: '',
    });
    assert.equal(purpose, 'install');
    const lines = script.split('\n');
    const kernels = lines.filter((l) => l.startsWith('kernel '));
    assert.equal(kernels.length, 2);
    assert.match(
      kernels[0]!,
      new RegExp(`^kernel ${B}/boot/kiln/x86_64/vmlinuz .*kiln.url=${B} .* \\|\\| goto kiln_next_1$`),
    );
    assert.match(
      kernels[1]!,
      new RegExp(`^kernel ${C}/boot/kiln/x86_64/vmlinuz .*kiln.url=${C} .* \\|\\| goto failed$`),
    );
    assert.ok(lines.includes(`initrd --name initrd.img ${C}/boot/kiln/x86_64/initrd.img || goto failed`));
    assert.ok(!script.includes(A), "the dead deploying member's URL is nowhere in the script");
  });
});
