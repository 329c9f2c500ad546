/**
 * The checks of what `kiln serve` itself runs, added by its composition root
 * (main.ts) once the servers are up. Each check reads live state through a
 * function, so a repair shows on the next run without a restart where the
 * thing can be repaired live (permissions, disk, clock, interfaces).
 */
import type { CheckRegistry } from './check.js';
import { ipxeCheck, nodeImageCheck, type NodeImageServed, type NodeImageState } from './checks/boot-files.js';
import { clockCheck } from './checks/clock.js';
import { dataDirCheck } from './checks/data-dir.js';
import { dhcpSocketsCheck, type ServedDhcpSubnet } from './checks/dhcp-sockets.js';
import { diskCheck } from './checks/disk.js';
import { iprouteNetworkView } from './checks/ip-link.js';
import { httpProbeCheck, tftpProbeCheck } from './checks/probes.js';
import { radvdCheck } from './checks/radvd.js';
import { storeCheck } from './checks/store.js';
import { tlsCheck } from './checks/tls.js';
import type { DoctorConfig } from './doctor-config.js';

/** What the controller's checks look at; every getter reads the state now. */
export interface ControllerCheckSources {
  dataDir: string;
  store: { describe: string; ping: () => Promise<void>; pending: () => Promise<string[]> };
  newestEventAt: () => Promise<string | null>;
  dhcp: { enabled: boolean; subnets: readonly ServedDhcpSubnet[]; radvdInterfaces: readonly string[] | null };
  running: () => {
    dhcp: ReadonlyArray<{ interface: string | undefined; port: number }> | null;
    tftp: { address: string; port: number } | null;
    radvdPid: number | null;
  };
  httpUrl: () => string | null;
  ipxe: { dir: string; required: readonly string[]; optional: readonly string[] };
  nodeImage: () => NodeImageState;
  /** What the member serves without a version (its own image, its earlier build, or a peer's version); absent: not known. */
  nodeImageServed?: () => Promise<NodeImageServed | null>;
  tls: { certPem: () => string | null; certFile: string | undefined };
}

/** Adds the controller's own checks to `registry`, in the order `kiln doctor` lists them, with the `doctor:` section's thresholds. */
export function addControllerChecks(registry: CheckRegistry, c: DoctorConfig, s: ControllerCheckSources): void {
  registry.add(dataDirCheck({ dataDir: s.dataDir }));
  registry.add(
    diskCheck({
      dataDir: s.dataDir,
      failMiB: c.diskFailMiB,
      warnMiB: c.diskWarnMiB,
      failPercent: c.diskFailPercent,
      warnPercent: c.diskWarnPercent,
    }),
  );
  registry.add(storeCheck(s.store));
  registry.add(clockCheck({ newestEventAt: s.newestEventAt, aheadMs: c.clockAheadSeconds * 1000 }));
  registry.add(
    dhcpSocketsCheck({
      enabled: s.dhcp.enabled,
      subnets: s.dhcp.subnets,
      listeners: () => s.running().dhcp,
      net: iprouteNetworkView(),
    }),
  );
  registry.add(tftpProbeCheck({ address: () => s.running().tftp }));
  registry.add(httpProbeCheck({ url: s.httpUrl }));
  registry.add(ipxeCheck(s.ipxe));
  registry.add(nodeImageCheck({ state: s.nodeImage, ...(s.nodeImageServed ? { served: s.nodeImageServed } : {}) }));
  registry.add(radvdCheck({ interfaces: s.dhcp.radvdInterfaces, pid: () => s.running().radvdPid }));
  registry.add(
    tlsCheck({
      certPem: s.tls.certPem,
      warnDays: c.tlsWarnDays,
      source: s.tls.certFile ? { kind: 'files', certFile: s.tls.certFile } : { kind: 'issued' },
    }),
  );
}
