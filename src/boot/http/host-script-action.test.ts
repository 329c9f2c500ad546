import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import type { Host } from '../../inventory/host.js';
import type { Mac } from '../../net/mac.js';
import { hostileText } from '../../protocols/ipxe/hostile-text.fixture.js';
import { renderHostScript } from './host-script.js';

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

it("property: a script's action is the text of its `echo Kiln:` line, for every state, name and reason", () => {
  fc.assert(
    fc.property(fc.constantFrom(...states), hostileText, hostileText, fc.boolean(), (state, name, reason, image) => {
      const { action, script } = renderHostScript({
        host: {
          id: 'h1',
          name,
          state,
          stateReason: reason,
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
        },
        deployment: {
          id: 'd1',
          profile: reason,
          status: 'deploying',
          bootSpec: { kernel: 'http://m/linux', initrd: ['http://m/initrd.gz'], cmdline: reason },
        },
        query: { platform: 'pcbios', arch: 'x86_64' },
        baseUrl: 'http://10.9.0.1:8080',
        nodeImage: image ? { arch: 'x86_64' } : null,
        retry: { url: 'http://10.9.0.1:8080/boot/host.ipxe?mac=x', delaySeconds: 10 },
        nodeImageArgs: '',
      });
      // Lines split on \n only (as iPXE reads them): a regex `.` would stop at U+2028.
      const echo = script.split('\n').find((l) => l.startsWith('echo Kiln: '));
      assert.equal(action, echo?.slice('echo Kiln: '.length));
    }),
    { numRuns: 500 },
  );
});

it('a host moved to deploying without a deployment is a conflict, not a script', () => {
  assert.throws(
    () =>
      renderHostScript({
        host: {
          id: 'h1',
          name: 'node-1',
          state: 'deploying',
          stateReason: null,
          failedStage: null,
          profile: null,
          firmware: 'bios',
          nics: [],
          tags: [],
          labels: {},
          facts: {},
          hardwareHash: null,
          needsAttention: false,
          bmc: null,
          version: 1,
          createdAt: '',
          updatedAt: '',
        },
        deployment: null,
        query: { platform: 'pcbios', arch: 'x86_64' },
        baseUrl: 'http://10.9.0.1:8080',
        nodeImage: null,
        retry: { url: 'http://10.9.0.1:8080/boot/host.ipxe', delaySeconds: 10 },
        nodeImageArgs: '',
      }),
    (err: Error & { code?: string }) => err.code === 'conflict',
  );
});
