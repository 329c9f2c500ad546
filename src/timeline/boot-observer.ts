/**
 * The timeline's ears: turns what the boot servers and the HTTP app report
 * (DHCP replies, TFTP transfers, answered requests, per-host scripts) into
 * observations of the timeline service. Nothing here waits: observations are
 * filed in the background, and a lost one is logged by the service.
 */
import type { BootObserver } from '../boot/network-servers.js';
import type { ScriptTimeline } from '../boot/http/boot-service.js';
import type { ScriptPurpose } from '../boot/http/host-script.js';
import { parseMac } from '../net/mac.js';
import { dhcpObservation } from './dhcp-observation.js';
import { httpObservation, type BootExchange } from './http-observation.js';
import type { ObservationInput, TimelineService } from './timeline-service.js';

/** Observers for the DHCP/TFTP servers, the HTTP app and the boot service, over one timeline service. */
export function createBootObservers(timeline: TimelineService): {
  servers: BootObserver;
  exchange: (x: BootExchange) => void;
  scripts: ScriptTimeline;
} {
  // A repeated fetch of a cached script brings the same action text: its observation is made once, so a repeat
  // compares the same detail string (the timeline recognises it without copying). Bounded: emptied when full.
  const made = new Map<string, ObservationInput>();
  const scriptObservation = (purpose: ScriptPurpose, action: string): ObservationInput => {
    let o = made.get(action);
    if (o === undefined || o.purpose !== purpose) {
      if (made.size >= 10_000) made.clear();
      o = Object.freeze({
        stage: 'ipxe-script',
        outcome: 'ok',
        purpose,
        detail: `per-host script: ${action}`,
      } as const);
      made.set(action, o);
    }
    return o;
  };
  return {
    servers: {
      dhcpReply(e) {
        const mac = parseMac(e.mac);
        const seen = mac ? dhcpObservation(e.request, e.reply) : null;
        if (!mac || !seen) return;
        if (seen.ip) timeline.learnAddress(seen.ip, mac);
        void timeline.observe({ mac }, seen.observation);
      },
      tftpTransfer(e) {
        // A transfer that ends with no bytes and no error of its own is a size probe (UEFI PXE asks tsize, then aborts).
        if (e.outcome !== 'complete' && (e.outcome === 'aborted' || e.outcome === 'peer_error')) return;
        void timeline.observe(
          { ip: e.ip },
          e.outcome === 'complete'
            ? { stage: 'boot-file', outcome: 'ok', detail: `${e.path} over TFTP, ${e.bytes} bytes in ${e.ms} ms` }
            : { stage: 'boot-file', outcome: 'failed', detail: `${e.path} over TFTP: ${e.outcome} after ${e.ms} ms` },
        );
      },
      tftpRefused(e) {
        void timeline.observe(
          { ip: e.ip },
          { stage: 'boot-file', outcome: 'failed', detail: `${e.path} over TFTP: ${e.reason}` },
        );
      },
    },
    exchange(x) {
      const seen = httpObservation(x);
      if (seen) void timeline.observe(seen.target, seen.observation);
    },
    scripts: {
      sessionFor: (mac, host) => timeline.sessionFor(mac, host),
      // The fetch's source address is not learned as the MAC's: it may be a NAT or proxy in boot-source-ranges
      // shared by many machines. Addresses come from DHCP (the address Kiln gave) and the lease table only.
      scriptServed(mac, _ip, host, purpose, detail) {
        timeline.observeHost(mac, host, scriptObservation(purpose, detail));
      },
    },
  };
}
