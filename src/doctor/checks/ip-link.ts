import { execTool } from '../../process/run-tool.js';
import type { NetworkView } from './dhcp-sockets.js';

/** `NetworkView` from iproute2 (`ip -j`), each call bounded to 5 s. */
export function iprouteNetworkView(): NetworkView {
  const ipJson = async (args: string[]): Promise<unknown[] | null> => {
    const r = await execTool('ip', ['-j', ...args], { timeoutMs: 5000 });
    if (r.code !== 0) return null;
    try {
      return JSON.parse(r.stdout) as unknown[];
    } catch {
      return null;
    }
  };
  return {
    async addresses() {
      const links = ((await ipJson(['-4', 'addr', 'show'])) ?? []) as Array<{
        ifname?: string;
        addr_info?: Array<{ local?: string }>;
      }>;
      return links.flatMap((l) =>
        (l.addr_info ?? []).map((a) => ({ interface: l.ifname ?? '', address: a.local ?? '' })),
      );
    },
    async linkUp(dev) {
      const l = ((await ipJson(['link', 'show', 'dev', dev])) ?? []) as Array<{ flags?: string[] }>;
      return l[0]?.flags?.includes('UP') ?? false;
    },
    async routeDev(ip) {
      const r = ((await ipJson(['route', 'get', ip])) ?? []) as Array<{ dev?: string }>;
      return r[0]?.dev ?? null;
    },
  };
}
