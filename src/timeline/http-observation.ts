/**
 * An answered HTTP request, as a timeline observation. Pure. Boot files:
 * iPXE binaries over HTTP (UEFI HTTP boot) are the boot file; kernels and
 * initrds (by name) under Kiln's boot trees and the repo's debian-installer
 * files (/repo/installer/); the chain script. Node API
 * calls: the discovery report (facts), enrolment, identity requests and polls (agent), install
 * plan and files, progress, failure, completion (first boot). The per-host
 * script is observed by the boot service itself (it knows the host and what
 * the script does). HEAD requests (size probes) are not stages.
 */
import { parseMac, type Mac } from '../net/mac.js';
import type { ObservationInput, ObservationTarget } from './timeline-service.js';

/** The plain values of one answered request (src/api/build-app.ts HttpExchange, by shape). */
export interface BootExchange {
  method: string;
  route: string;
  path: string;
  status: number;
  bytes: number | null;
  seconds: number;
  ip: string;
  nodeHostId: string | null;
  session: string | undefined;
  body: unknown;
}

const KERNEL = /^(vmlinuz|vmlinux|linux|bzimage|kernel)/i;
const INITRD = /(initrd|initramfs)/i;
const NODE = '/api/v1/node/';

const field = (body: unknown, name: string): string => {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return typeof v === 'string' ? v.slice(0, 500) : '';
};

const transfer = (x: BootExchange, file: string) =>
  `${file} over HTTP, ${x.bytes ?? '?'} bytes in ${Math.round(x.seconds * 1000)} ms`;

/** The observation of `x` and whom it is about, or null when it is no boot stage. */
export function httpObservation(x: BootExchange): { target: ObservationTarget; observation: ObservationInput } | null {
  if (x.method !== 'GET' && x.method !== 'POST') return null;
  const ok = x.status < 400;
  const failed = (stage: ObservationInput['stage'], detail: string, final = false): ObservationInput => ({
    stage,
    outcome: 'failed',
    final,
    detail,
  });
  const byIp: ObservationTarget = { ip: x.ip };
  if (x.path === '/boot.ipxe' && x.method === 'GET')
    return ok
      ? { target: byIp, observation: { stage: 'ipxe-script', outcome: 'ok', detail: 'chain script /boot.ipxe' } }
      : null;
  if (
    x.method === 'GET' &&
    (x.path.startsWith('/ipxe/') ||
      x.path.startsWith('/boot/') ||
      x.path.startsWith('/images/') ||
      x.path.startsWith('/repo/installer/'))
  ) {
    if (x.path === '/boot/host.ipxe') return null;
    const file = x.path.slice(x.path.lastIndexOf('/') + 1);
    const stage = x.path.startsWith('/ipxe/')
      ? 'boot-file'
      : KERNEL.test(file)
        ? 'kernel'
        : INITRD.test(file)
          ? 'initrd'
          : null;
    if (!stage) return null;
    const name = x.path.slice(0, 300);
    return {
      target: byIp,
      observation: ok
        ? { stage, outcome: 'ok', detail: transfer(x, name) }
        : failed(stage, `${name}: HTTP ${x.status}${x.status === 404 ? ' (not found)' : ''}`),
    };
  }
  if (!x.path.startsWith(NODE)) return null;
  const call = x.route.startsWith(NODE) ? x.route.slice(NODE.length) : x.path.slice(NODE.length);
  const session = x.session;
  const byMac = call === 'enrol' || call === 'identity/request' || call === 'identity/claim';
  const enrolMac: Mac | null = byMac ? parseMac(field(x.body, 'mac')) : null;
  const target: ObservationTarget = x.nodeHostId ? { hostId: x.nodeHostId } : enrolMac ? { mac: enrolMac } : byIp;
  const of = (o: ObservationInput) => ({ target, observation: { ...o, session } });
  switch (call) {
    case 'discover':
      return ok ? of({ stage: 'facts', outcome: 'ok', detail: 'discovery report (facts)' }) : null;
    case 'enrol':
      return ok ? of({ stage: 'agent', outcome: 'ok', detail: 'installer enrolled' }) : null;
    case 'identity/request':
      return ok
        ? of({
            stage: 'agent',
            outcome: 'ok',
            detail: 'no identity presented: waiting for approval (kiln host approve)',
          })
        : null;
    case 'identity/claim':
      return ok
        ? of({ stage: 'agent', outcome: 'ok', detail: 'waiting for approval: node polled its identity request' })
        : null;
    case 'next':
      return ok ? of({ stage: 'agent', outcome: 'ok', detail: 'node asked what to do next' }) : null;
    case 'install-plan':
    case 'files/:name':
    case 'install/:token/:name': {
      const name = call === 'install-plan' ? 'install plan' : x.path.slice(x.path.lastIndexOf('/') + 1).slice(0, 128);
      return of(
        ok
          ? { stage: 'install-plan', outcome: 'ok', detail: `${name} fetched` }
          : failed('install-plan', `${name}: HTTP ${x.status}`),
      );
    }
    case 'progress': {
      if (!ok) return null;
      const stage = field(x.body, 'stage');
      const message = field(x.body, 'message');
      if (stage !== 'installed')
        return of({ stage: 'install-step', outcome: 'ok', detail: `${stage}${message ? `: ${message}` : ''}` });
      // How the installer starts the installed system (Kiln's image writer says; other installers reboot).
      const via = field(x.body, 'handoff');
      const handoff = via === 'kexec' || via === 'reboot' ? via : undefined;
      return of({
        stage: 'installed',
        outcome: 'ok',
        ...(handoff ? { handoff } : {}),
        detail: `installed${handoff ? ` (handoff ${handoff})` : ''}${message ? `: ${message}` : ''}`,
      });
    }
    case 'failed':
      return ok ? of(failed('install-step', `${field(x.body, 'stage')}: ${field(x.body, 'reason')}`, true)) : null;
    case 'complete':
      return ok
        ? of({ stage: 'first-boot', outcome: 'ok', detail: `complete (${field(x.body, 'stage') || 'install'})` })
        : null;
    default:
      return null;
  }
}
