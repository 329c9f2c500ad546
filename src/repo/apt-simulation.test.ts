import assert from 'node:assert/strict';
import { test } from 'node:test';
import { archiveFileName, parseAptSimulation, poolFileName } from './apt-simulation.js';

// apt-get -s install hello, against bookworm (apt 2.6), trimmed.
const OK = `Reading package lists...
Building dependency tree...
The following NEW packages will be installed:
  gcc-12-base hello libc6 libgcc-s1 libidn2-0 libunistring2
0 upgraded, 6 newly installed, 0 to remove and 0 not upgraded.
Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.15/oldstable [amd64])
Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
Inst hello (2.10-3 Debian:12.15/oldstable [amd64])
Inst libunistring2 (1.0-2 Debian:12.15/oldstable [amd64])
Inst libidn2-0 (2.3.3-1+b1 Debian:12.15/oldstable [amd64])
Inst tzdata [2024a-0] (2025b-0+deb12u1 Debian:12.15/oldstable [all])
Conf libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64])
`;

// The same against a subset without libc6 (what repo.int.test.ts produces).
const BROKEN = `Reading package lists...
Building dependency tree...
Some packages could not be installed. This may mean that you have
requested an impossible situation.
The following information may help to resolve the situation:

The following packages have unmet dependencies:
 hello : Depends: libc6 (>= 2.34) but it is not installable
 kiln-site-tools : Depends: hello but it is not going to be installed
                   PreDepends: zlib1g (>= 1:1.2) but it is not installable
E: Unable to correct problems, you have held broken packages.

E: Unable to locate package nosuch
`;

test('reads the packages apt would install: name, version (epoch kept), architecture; an upgrade line too', () => {
  const r = parseAptSimulation(OK);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.missing, []);
  assert.equal(r.installs.length, 7);
  assert.deepEqual(r.installs[2], { name: 'libc6', version: '2.36-9+deb12u14', arch: 'amd64' });
  assert.deepEqual(r.installs[6], { name: 'tzdata', version: '2025b-0+deb12u1', arch: 'all' });
});

test('names the missing dependencies and unknown packages, keeps the problem lines', () => {
  const r = parseAptSimulation(BROKEN);
  assert.deepEqual(r.installs, []);
  assert.deepEqual(r.missing, ['libc6', 'hello', 'zlib1g', 'nosuch']);
  assert.equal(r.problems[0], 'hello : Depends: libc6 (>= 2.34) but it is not installable');
  assert.ok(r.problems.includes('E: Unable to correct problems, you have held broken packages.'));
});

test('file names: apt archives keep the epoch as %3a, a pool drops it', () => {
  const p = { name: 'zlib1g', version: '1:1.2.13.dfsg-1', arch: 'amd64' };
  assert.equal(archiveFileName(p), 'zlib1g_1%3a1.2.13.dfsg-1_amd64.deb');
  assert.equal(poolFileName(p), 'zlib1g_1.2.13.dfsg-1_amd64.deb');
});
