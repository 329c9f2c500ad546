import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Deployment } from '../../deploy/deployment.js';
import type { Host } from '../../inventory/host.js';
import type { Mac } from '../../net/mac.js';
import { parseIpxeScript } from '../../protocols/ipxe/parse-script.js';
import { formatChainScript } from '../../protocols/ipxe/script.js';
import { hostileText } from '../../protocols/ipxe/hostile-text.fixture.js';
import { createHostScriptCache, renderHostScript, type HostScriptInput } from './host-script.js';

const host = (state: Host['state'], extra: Partial<Host> = {}): Host => ({
  id: 'h1',
  name: 'node-1',
  state,
  stateReason: null,
  failedStage: null,
  profile: null,
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
  ...extra,
});
const deployment = (status: Deployment['status']): Deployment => ({
  id: 'd1',
  hostId: 'h1',
  profile: 'debian-12',
  files: {},
  status,
  createdAt: '',
  createdBy: '',
  installedAt: null,
  completedAt: null,
  imageSpec: null,
  bootSpec: {
    kernel: 'http://mirror/linux',
    initrd: ['http://mirror/initrd.gz'],
    cmdline: 'auto=true url=http://k/p.cfg',
  },
});
const input = (h: Host, extra: Partial<HostScriptInput> = {}): HostScriptInput => ({
  host: h,
  deployment: null,
  query: { platform: 'pcbios', arch: 'x86_64' },
  baseUrl: 'http://10.9.0.1:8080',
  nodeImage: { arch: 'x86_64' },
  retry: {
    url: 'http://10.9.0.1:8080/boot/host.ipxe?mac=52%3A54%3A00%3A12%3A34%3A56&platform=pcbios&arch=x86_64',
    delaySeconds: 10,
  },
  nodeImageArgs: 'console=ttyS0,115200',
  ...extra,
});

const discoveryScript = `#!ipxe
echo Kiln: node-1 is new: booting the discovery image
kernel http://10.9.0.1:8080/boot/kiln/x86_64/vmlinuz initrd=initrd.img kiln.url=http://10.9.0.1:8080 kiln.mode=discover kiln.mac=52:54:00:12:34:56 BOOTIF=01-52-54-00-12-34-56 console=ttyS0,115200 || goto failed
initrd --name initrd.img http://10.9.0.1:8080/boot/kiln/x86_64/initrd.img || goto failed
boot || goto failed
:failed
echo Kiln: booting the kernel failed; retrying in 10 s
sleep 10
chain --replace --autofree http://10.9.0.1:8080/boot/host.ipxe?mac=52%3A54%3A00%3A12%3A34%3A56&platform=pcbios&arch=x86_64 || goto failed
`;

describe('per-host iPXE script', () => {
  it('new host → discovery image (full text)', () =>
    assert.equal(renderHostScript(input(host('new'))).script, discoveryScript));

  it('ready on BIOS → sanboot the first disk; on UEFI → exit 1 (a failed option: the boot manager tries the next one)', () => {
    assert.equal(
      renderHostScript(input(host('ready'))).script,
      '#!ipxe\necho Kiln: node-1 is ready: booting from local disk\nsanboot --no-describe --drive 0x80 || exit\n',
    );
    assert.equal(
      renderHostScript(input(host('deployed'), { query: { platform: 'efi', arch: 'x86_64' } })).script,
      '#!ipxe\necho Kiln: node-1 is deployed: booting from local disk\nexit 1\n',
    );
  });

  it('deploying → the installer with initrd= on the command line', () => {
    const s = renderHostScript(input(host('deploying'), { deployment: deployment('deploying') })).script;
    assert.match(
      s,
      /^kernel http:\/\/mirror\/linux initrd=initrd\.img auto=true url=http:\/\/k\/p\.cfg \|\| goto failed$/m,
    );
    assert.match(s, /^initrd --name initrd\.img http:\/\/mirror\/initrd\.gz \|\| goto failed$/m);
  });

  it('deploying but installed → local disk (no install loop)', () => {
    assert.match(
      renderHostScript(input(host('deploying'), { deployment: deployment('installed') })).script,
      /sanboot --no-describe --drive 0x80/,
    );
  });

  it('releasing → wipe image', () =>
    assert.match(renderHostScript(input(host('releasing'))).script, /kiln\.mode=wipe/));

  it('failed → the reason, a wait and a retry; never a silent hang', () => {
    const s = renderHostScript(input(host('failed', { stateReason: 'disk not found', failedStage: 'install' }))).script;
    assert.match(s, /echo Kiln: node-1 failed at install: disk not found/);
    assert.match(s, /^sleep 10$/m);
    assert.match(s, /^chain --replace --autofree http:\/\/10\.9\.0\.1:8080\/boot\/host\.ipxe/m);
  });

  it('a command line that would make iPXE expand a setting is refused with a wait script', () => {
    const d = deployment('deploying');
    d.bootSpec.cmdline = 'root=${evil}';
    const s = renderHostScript(input(host('deploying'), { deployment: d })).script;
    assert.match(
      s,
      /cannot build a boot script: cmdline: contains "\$ \{", which iPXE would expand|cannot build a boot script/,
    );
    assert.ok(!s.includes('kernel '));
  });

  it('no node image yet or another arch → explains and waits', () => {
    assert.match(renderHostScript(input(host('new'), { nodeImage: null })).script, /node image is not built yet/);
    assert.match(
      renderHostScript(input(host('new'), { query: { platform: 'efi', arch: 'arm64' } })).script,
      /no discover image for architecture arm64/,
    );
  });

  it('the chain script asks for the per-host script with the MAC, UUID, arch and platform', () => {
    assert.equal(
      formatChainScript('http://10.9.0.1:8080/boot/host.ipxe', 5),
      `#!ipxe
:retry
chain --replace --autofree http://10.9.0.1:8080/boot/host.ipxe?mac=\${net0/mac}&uuid=\${uuid}&arch=\${buildarch}&platform=\${platform} || goto failed
:failed
echo Kiln: fetching this machine's boot script failed; retrying in 5 s
sleep 5
goto retry
`,
    );
  });

  it("property: whatever the host name, failure reason, stage or deployment holds, the script runs only Kiln's commands and chains only to its own URL", () => {
    const states: Host['state'][] = [
      'new',
      'discovering',
      'releasing',
      'deploying',
      'failed',
      'ready',
      'deployed',
      'retired',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...states),
        hostileText,
        hostileText,
        hostileText,
        hostileText,
        hostileText,
        (state, name, reason, stage, cmdline, kernel) => {
          const d = deployment('deploying');
          d.bootSpec = {
            kernel: kernel.startsWith('http') ? kernel : `http://m/${kernel}`,
            initrd: ['http://m/initrd.gz'],
            cmdline,
          };
          d.profile = reason;
          const s = renderHostScript(
            input(host(state, { name, stateReason: reason, failedStage: stage }), { deployment: d }),
          ).script;
          const commands = parseIpxeScript(s).flatMap((l) => l.commands);
          for (const c of commands) {
            assert.ok(
              ['echo', 'kernel', 'initrd', 'boot', 'goto', 'sleep', 'chain', 'sanboot', 'exit'].includes(c.argv[0]),
              `unexpected command ${c.argv[0]}`,
            );
            if (c.argv[0] === 'chain')
              assert.deepEqual(c.argv, ['chain', '--replace', '--autofree', input(host(state)).retry.url]);
            if (c.argv[0] === 'goto') assert.deepEqual(c.argv, ['goto', 'failed']);
            if (c.argv[0] === 'kernel')
              assert.ok([d.bootSpec.kernel, 'http://10.9.0.1:8080/boot/kiln/x86_64/vmlinuz'].includes(c.argv[1]));
            for (const w of c.argv) assert.ok(!w.includes('${'));
          }
          if (state === 'failed') assert.ok(!commands.some((c) => c.argv[0] === 'kernel' || c.argv[0] === 'boot'));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('the script cache answers a repeated fetch from memory and renders again when the host, its deployment or the query changes', () => {
    // The install token (an HMAC) is filled in on a miss only: a cached script already holds it.
    let fills = 0;
    const cache = createHostScriptCache({
      max: 2,
      fillDeployment: (d) => {
        fills++;
        return { ...d, bootSpec: { ...d.bootSpec, cmdline: `${d.bootSpec.cmdline} token=t-${d.id}` } };
      },
    });
    const i = input(host('deploying'), { deployment: deployment('deploying') });
    const first = cache.render(i).script;
    assert.match(first, / token=t-d1/);
    assert.equal(
      first,
      renderHostScript({
        ...i,
        deployment: {
          ...i.deployment!,
          bootSpec: { ...i.deployment!.bootSpec, cmdline: `${i.deployment!.bootSpec.cmdline} token=t-d1` },
        },
      }).script,
    );
    assert.equal(cache.render({ ...i }).script, first);
    assert.equal(cache.size(), 1);
    assert.equal(fills, 1, 'a hit fills no token');
    assert.match(cache.render({ ...i, deployment: deployment('installed') }).script, /sanboot/);
    assert.match(
      cache.render({ ...i, host: host('failed', { version: 2, stateReason: 'disk gone' }) }).script,
      /disk gone/,
    );
    assert.equal(cache.size(), 2);
    assert.match(
      cache.render({ ...i, query: { platform: 'efi', arch: 'x86_64' } }).script,
      /kernel http:\/\/mirror\/linux/,
    );
    assert.equal(cache.size(), 2);
  });
});

describe('boot session on the kernel command line', () => {
  it('the deployment is filled (install token, boot session) on a miss only: a hit is the cached text, a new session renders again', () => {
    const fills: (string | null)[] = [];
    const cache = createHostScriptCache({
      fillDeployment: (d, session) => {
        fills.push(session);
        return { ...d, bootSpec: { ...d.bootSpec, cmdline: `${d.bootSpec.cmdline} s=${session ?? ''}` } };
      },
    });
    const i = input(host('deploying'), { deployment: deployment('deploying'), session: '0123456789ab' });
    const first = cache.render(i).script;
    assert.match(first, / s=0123456789ab /);
    assert.equal(cache.render({ ...i }).script, first);
    assert.deepEqual(fills, ['0123456789ab']);
    assert.match(cache.render({ ...i, session: 'ba9876543210' }).script, / s=ba9876543210 /);
    assert.deepEqual(fills, ['0123456789ab', 'ba9876543210']);
  });
  it('every kernel the script boots gets kiln.session=<id> (node image and installer), and each session is its own cached script', () => {
    const kernelLine = (s: string) => s.split('\n').find((l) => l.startsWith('kernel '))!;
    const cache = createHostScriptCache();
    const discover = cache.render(input(host('discovering'), { session: '0123456789ab' }));
    assert.equal(discover.purpose, 'discover');
    assert.match(
      kernelLine(discover.script),
      / BOOTIF=01-52-54-00-12-34-56 kiln\.session=0123456789ab console=ttyS0,115200 /,
    );
    const install = renderHostScript(
      input(host('deploying'), { deployment: deployment('deploying'), session: '0123456789ab' }),
    );
    assert.equal(install.purpose, 'install');
    assert.match(kernelLine(install.script), / auto=true url=http:\/\/k\/p\.cfg kiln\.session=0123456789ab /);
    const next = cache.render(input(host('discovering'), { session: 'ba9876543210' }));
    assert.match(kernelLine(next.script), /kiln\.session=ba9876543210/);
    assert.doesNotMatch(kernelLine(renderHostScript(input(host('discovering'))).script), /kiln\.session/);
    assert.equal(renderHostScript(input(host('deployed'))).purpose, 'local');
    assert.equal(
      renderHostScript(input(host('deploying'), { deployment: deployment('installed') })).purpose,
      'first-boot',
    );
  });
});

describe('a stateless deployment', () => {
  it('boots its spec every time: deploying (any status) and deployed; a deployed host without one boots its disk', () => {
    const d = { ...deployment('complete'), profile: 'kiln-image-stateless', stateless: true };
    for (const [state, status] of [
      ['deploying', 'deploying'],
      ['deploying', 'installed'],
      ['deployed', 'complete'],
    ] as const) {
      const s = renderHostScript(input(host(state), { deployment: { ...d, status } }));
      assert.match(s.action, /booting profile kiln-image-stateless stateless/);
      assert.match(s.script, /kernel http:\/\/mirror\/linux/);
    }
    assert.equal(renderHostScript(input(host('deployed'), { deployment: deployment('complete') })).purpose, 'local');
  });
});

describe("the node image's version in the script (docs/adr/0016-node-image-between-members.md)", () => {
  const v = '6.1.0-9-amd64-0123456789ab';
  it('the discovery script names the version the member serves, on the kernel and the initrd', () => {
    const s = renderHostScript(input(host('new'), { nodeImage: { arch: 'x86_64', version: v } })).script;
    assert.equal(
      s,
      discoveryScript
        .replace('/boot/kiln/x86_64/vmlinuz ', `/boot/kiln/x86_64/vmlinuz?version=${v} `)
        .replace('/boot/kiln/x86_64/initrd.img ', `/boot/kiln/x86_64/initrd.img?version=${v} `),
    );
  });

  it("a stateless spec's node image at a member is pinned too; a mirror's URL is left alone", () => {
    const d = {
      ...deployment('complete'),
      profile: 'kiln-image-stateless',
      stateless: true,
      bootSpec: {
        kernel: 'http://10.9.0.1:8080/boot/kiln/x86_64/vmlinuz',
        initrd: ['http://10.9.0.1:8080/boot/kiln/x86_64/initrd.img'],
        cmdline: 'kiln.url=http://10.9.0.1:8080 kiln.mode=stateless',
      },
    };
    const s = renderHostScript(
      input(host('deployed'), { deployment: d, nodeImage: { arch: 'x86_64', version: v } }),
    ).script;
    assert.match(s, new RegExp(`^kernel http://10\\.9\\.0\\.1:8080/boot/kiln/x86_64/vmlinuz\\?version=${v} `, 'm'));
    assert.match(
      s,
      new RegExp(
        `^initrd --name initrd\\.img http://10\\.9\\.0\\.1:8080/boot/kiln/x86_64/initrd\\.img\\?version=${v} `,
        'm',
      ),
    );
    const mirror = renderHostScript(
      input(host('deploying'), { deployment: deployment('deploying'), nodeImage: { arch: 'x86_64', version: v } }),
    ).script;
    assert.match(mirror, /^kernel http:\/\/mirror\/linux initrd=/m);
  });

  it('the script cache renders anew when the version changes', () => {
    const cache = createHostScriptCache();
    const one = cache.render(input(host('new'), { nodeImage: { arch: 'x86_64', version: v } }));
    const two = cache.render(input(host('new'), { nodeImage: { arch: 'x86_64', version: `${v}x` } }));
    assert.notEqual(one.script, two.script);
    assert.match(two.script, /vmlinuz\?version=6\.1\.0-9-amd64-0123456789abx /);
  });
});
