import type { LoadedProfile } from '../loaded-profile.js';
import { profileContext } from '../profile-context.js';
import type { RenderContext } from '../../template/render-context.js';

/** A fixed sample host used by the golden tests (documentation-range addresses). */
export function sampleContext(profile: LoadedProfile, overrides: Record<string, unknown> = {}): RenderContext {
  return {
    host: {
      id: 'h-0001',
      name: 'rack1-node07',
      hostname: 'node07',
      fqdn: 'node07.lab.example.org',
      macs: ['52:54:00:12:34:56', '52:54:00:12:34:57'],
      bootMac: '52:54:00:12:34:56',
      ip: '192.0.2.17',
      tags: ['rack1', 'compute'],
      labels: { rack: 'r1' },
      facts: { cpu: { cores: 8 } },
      firmware: 'uefi',
    },
    profile: profileContext(profile, overrides),
    group: { name: 'compute' },
    site: { domain: 'lab.example.org', timezone: 'Europe/Berlin', ntp: ['ntp1.example.org', 'ntp2.example.org'], dns: ['192.0.2.53'] },
    kiln: {
      baseUrl: 'http://192.0.2.1:8080',
      apiUrl: 'https://kiln.lab.example.org:8443',
      filesUrl: 'http://192.0.2.1:8080/boot/hosts/h-0001/files',
      installFilesUrl: 'http://192.0.2.1:8080/api/v1/node/install/kit_INSTALLTOKEN',
      repoUrl: 'http://192.0.2.1:8080/repo/debian',
      repoHost: '192.0.2.1:8080',
      repoDirectory: '/repo/debian',
      repoKeyUrl: 'http://192.0.2.1:8080/repo/kiln-repo.asc',
      caPem: '-----BEGIN CERTIFICATE-----\nMIIBfakeKilnCAcertificateForTestsOnly\n-----END CERTIFICATE-----\n',
      syslog: { host: '192.0.2.1', port: 514 },
      nodeApi: {
        enrol: 'https://kiln.lab.example.org:8443/api/v1/node/enrol',
        secrets: 'https://kiln.lab.example.org:8443/api/v1/node/secrets',
        progress: 'https://kiln.lab.example.org:8443/api/v1/node/progress',
        complete: 'https://kiln.lab.example.org:8443/api/v1/node/complete',
        sshCert: 'https://kiln.lab.example.org:8443/api/v1/node/ssh-cert',
        agent: 'https://kiln.lab.example.org:8443/api/v1/node/agent',
      },
    },
    boot: { session: 'kbs_BOOTSESSION' },
  };
}
