import type { Mac } from '../../net/mac.js';

/** How often one unknown MAC is reported to the main thread while its client keeps asking (ms). */
const ASK_EVERY_MS = 1000;
/** Most MACs remembered; past it the oldest is forgotten (it is asked about again). */
const MAX_MACS = 100_000;

/** The DHCP worker's answer for an unknown MAC, without waiting for the main thread. */
export interface UnknownMacGate {
  /** Reports the MAC to the main thread (at most once per ASK_EVERY_MS) and says whether to answer it now. */
  check(mac: Mac, subnet: string): boolean;
  /** The main thread's admission (discovery policy, rate bound) of a reported MAC. */
  verdict(mac: Mac, ok: boolean): void;
}

/**
 * The discovery policy split across the DHCP worker and the main thread.
 * `admits` (the settings alone: `discovery` mode and allow list) is decided
 * here, exactly: a MAC it refuses is never answered. The per-subnet rate
 * bound lives on the main thread with the rest of the policy (HTTP boot
 * shares it): `ask` reports the MAC there, where it is enrolled or refused,
 * and the answer comes back as `verdict`. Until a refusal arrives the MAC is
 * answered (a DISCOVER waits for no other thread); once refused it is not,
 * until a later report is admitted. So a MAC over the bound may get one
 * offer it would not have got on one thread; it does not become a host.
 */
export function createUnknownMacGate(opts: {
  admits: (mac: Mac, where: { subnet: string }) => boolean;
  ask: (mac: Mac, subnet: string) => void;
  now: () => number;
}): UnknownMacGate {
  const seen = new Map<Mac, { askedAt: number; refused: boolean }>();
  const remember = (mac: Mac, e: { askedAt: number; refused: boolean }): void => {
    seen.delete(mac); // re-inserted last: the first key is the oldest
    if (seen.size >= MAX_MACS) seen.delete(seen.keys().next().value!);
    seen.set(mac, e);
  };
  return {
    check(mac, subnet) {
      const t = opts.now();
      const e = seen.get(mac);
      if (!e || t - e.askedAt >= ASK_EVERY_MS) {
        // Refused MACs are reported too: the main thread's policy logs and records the refusal (once a minute).
        opts.ask(mac, subnet);
        remember(mac, { askedAt: t, refused: e?.refused ?? false });
      }
      if (!opts.admits(mac, { subnet })) return false;
      return !(e?.refused ?? false);
    },
    verdict(mac, ok) {
      const e = seen.get(mac);
      if (e) e.refused = !ok;
      else if (!ok) remember(mac, { askedAt: opts.now(), refused: true });
    },
  };
}
