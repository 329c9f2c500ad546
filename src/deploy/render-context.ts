import type { Host } from '../inventory/host.js';
import type { LoadedProfile } from '../profile/loaded-profile.js';
import { profileContext } from '../profile/profile-context.js';
import type { RenderContext, SiteContext } from '../template/render-context.js';
import { BOOT_SESSION_PLACEHOLDER } from '../boot/boot-session.js';
import { INSTALL_TOKEN_PLACEHOLDER } from './install-token.js';
import { REPO_ARCHIVE_PATH, REPO_URL_PATH } from '../repo/repo-layout.js';

/** Where nodes reach this controller: `baseUrl` plain HTTP for firmware and installers, `apiUrl` for node API calls. */
export interface KilnUrls {
  baseUrl: string;
  apiUrl: string;
  caPem: string;
  /** Every healthy member's base URL and node API URL, this one's first (several members on one store). */
  baseUrls?: readonly string[];
  apiUrls?: readonly string[];
  /** Kiln's syslog receiver as nodes reach it; absent when syslog is off. */
  syslog?: { host: string; port: number };
}

/** Host labels `var.<name>=<value>` set profile variables for that host. */
export function hostVariables(host: Host): Record<string, string> {
  return Object.fromEntries(
    Object.entries(host.labels)
      .filter(([k]) => k.startsWith('var.'))
      .map(([k, v]) => [k.slice(4), v]),
  );
}

/** Builds the render context of one host for one profile. Pure. */
export function buildRenderContext(
  host: Host,
  profile: LoadedProfile,
  site: SiteContext,
  urls: KilnUrls,
  variables: Record<string, unknown> = {},
): RenderContext {
  const api = urls.apiUrl.replace(/\/$/, '');
  const hostname = host.name.split('.')[0];
  const base = new URL(urls.baseUrl);
  const basePath = base.pathname.replace(/\/$/, '');
  return {
    host: {
      id: host.id,
      name: host.name,
      hostname,
      fqdn: host.name.includes('.') || !site.domain ? host.name : `${host.name}.${site.domain}`,
      macs: host.nics.map((n) => n.mac),
      bootMac: host.nics.find((n) => n.boot)?.mac ?? host.nics[0]?.mac ?? '',
      ip: '',
      tags: host.tags,
      labels: host.labels,
      facts: host.facts,
      firmware: host.firmware ?? 'bios',
    },
    profile: profileContext(profile, { ...hostVariables(host), ...variables }),
    group: {},
    site,
    kiln: {
      baseUrl: urls.baseUrl.replace(/\/$/, ''),
      apiUrl: api,
      filesUrl: `${api}/api/v1/node/files`,
      caPem: urls.caPem,
      syslog: urls.syslog ?? { host: '', port: 514 },
      repoUrl: `${base.origin}${basePath}${REPO_ARCHIVE_PATH}`,
      repoHost: base.host,
      repoDirectory: `${basePath}${REPO_ARCHIVE_PATH}`,
      repoKeyUrl: `${base.origin}${basePath}${REPO_URL_PATH}/kiln-repo.asc`,
      installFilesUrl: `${urls.baseUrl.replace(/\/$/, '')}/api/v1/node/install/${INSTALL_TOKEN_PLACEHOLDER}`,
      nodeApi: {
        enrol: `${api}/api/v1/node/enrol`,
        secrets: `${api}/api/v1/node/secrets`,
        progress: `${api}/api/v1/node/progress`,
        complete: `${api}/api/v1/node/complete`,
        sshCert: `${api}/api/v1/node/ssh/host-certificates`,
        agent: `${api}/api/v1/node/agent`,
      },
    },
    boot: { session: BOOT_SESSION_PLACEHOLDER },
  };
}
