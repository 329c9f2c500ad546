/**
 * The boot timeline's stage model (issue 13), pure: what a boot of a host
 * goes through as Kiln sees it, which observation starts a new boot session,
 * which stage is expected next, and when a host that went silent is stalled.
 * No clock, no I/O: every function takes the time it needs (ms since the
 * epoch) and returns new values. The service (timeline-service.ts) keeps the
 * state, the store and the events.
 */

/** Boot stages in the order a boot reaches them (docs/timeline.md). */
export const stageOrder = [
  'dhcp', // firmware DHCP (PXE ROM, UEFI PXE, UEFI HTTP boot): offer/ack with firmware kind and arch
  'boot-file', // the network boot program (iPXE) over TFTP or HTTP
  'ipxe-dhcp', // iPXE's own DHCP
  'ipxe-script', // /boot.ipxe or the per-host script served
  'kernel', // the kernel the script names, fetched from Kiln
  'initrd', // its initrd
  'os-dhcp', // DHCP from the booted kernel (no PXE signs)
  'agent', // the node's first API call (discovery agent, image writer, installer)
  'facts', // the discovery report
  'install-plan', // install plan or install files fetched
  'install-step', // node progress (repeats)
  'installed', // the installer reported `installed`: the next boot is from disk
  'first-boot', // the installed system called /node/complete
  'heartbeat', // later node calls
] as const;

export type Stage = (typeof stageOrder)[number];

const indexOf = (s: Stage): number => stageOrder.indexOf(s);

/** The firmware kind a boot started with (from its first DHCP request); deadlines are set per kind. */
export const firmwareKinds = ['bios', 'uefi-pxe', 'uefi-http', 'ipxe', 'unknown'] as const;
export type FirmwareKind = (typeof firmwareKinds)[number];

/** What the served script sends the host to do: decides the stages after the kernel. */
/** `queued`: the host waits in the boot waiting room for a slot to load its kernel (src/boot/http/loading-gate.ts). */
export type BootPurpose = 'discover' | 'wipe' | 'install' | 'first-boot' | 'local' | 'wait' | 'queued' | 'unknown';

/** One thing Kiln saw a host do. `detail` is short text for people (file, bytes, duration, reason). */
export interface Observation {
  at: number;
  stage: Stage;
  outcome: 'ok' | 'failed';
  /** A failure after which the boot cannot go on (the node reported it); other failures may be retried by the firmware. */
  final?: boolean;
  /** On DHCP observations: the firmware kind and architecture the request carried. */
  firmware?: FirmwareKind;
  arch?: string;
  /** On ipxe-script observations: what the script sends the host to do. */
  purpose?: BootPurpose;
  /**
   * On heartbeat observations: the node reported a boot id other than its last one, a reboot whose start Kiln
   * did not see (the host booted from its disk without a network boot: a static address, disk first).
   */
  reboot?: boolean;
  /** On `installed` observations: how the installer starts the installed system (the node's report). */
  handoff?: HandoffVia;
  detail: string;
}

/** How an installer hands off to the installed system: a firmware reboot, or kexec straight into its kernel. */
export type HandoffVia = 'kexec' | 'reboot';

/**
 * An `installed` report waiting for the installed system's first boot: when it came and the hand-off it named
 * (null: the installer did not say). Carried into the next session (a firmware reboot opens one; kexec does not).
 */
export interface PendingHandoff {
  installedAt: number;
  via: HandoffVia | null;
}

/** A boot session's state: the stage reached and whether it failed or stalled. */
export interface SessionState {
  id: string;
  startedAt: number;
  firmware: FirmwareKind;
  arch: string | null;
  purpose: BootPurpose;
  /** The furthest stage reached with an `ok` observation (null: only failures so far). */
  reached: Stage | null;
  /** When `reached` was last observed: deadlines run from here. */
  progressAt: number;
  /** The last observation of any kind. */
  lastAt: number;
  failure: { stage: Stage; detail: string; at: number; final: boolean } | null;
  stalled: Stall | null;
  /** Set by an `installed` observation until `first-boot` (absent in sessions stored before it existed). */
  handoff?: PendingHandoff;
}

/** A host that went silent: `after` was the last stage, `expected` did not come within `seconds`. */
export interface Stall {
  after: Stage | null;
  expected: Stage;
  seconds: number;
  at: number;
}

/** Seconds allowed to reach a stage from the one before, per stage (all stages but `dhcp`, which nothing precedes). */
export type StageDeadlines = Record<Exclude<Stage, 'dhcp'>, number>;

/** Timeline settings the model reads (the `timeline:` config section). */
export interface TimelineRules {
  /** Default deadlines, and per-firmware overrides. */
  deadlines: StageDeadlines;
  firmware: Partial<Record<FirmwareKind, Partial<StageDeadlines>>>;
  /** A boot-start observation after this much silence starts a new session. */
  sessionGapSeconds: number;
}

/**
 * The stage after which a boot-start observation (firmware DHCP, iPXE DHCP,
 * an iPXE script request) means a new boot: the host started that stage
 * again after it got further. Retransmissions and the chain within one boot
 * (firmware DHCP → boot file → iPXE DHCP → script) stay in one session.
 */
const restartAfter: Partial<Record<Stage, Stage>> = {
  dhcp: 'ipxe-dhcp',
  'ipxe-dhcp': 'kernel',
  'ipxe-script': 'kernel',
};

/** Whether `o` can open a session (a boot starts with it). */
export const startsBoot = (o: Pick<Observation, 'stage' | 'outcome'>): boolean =>
  o.outcome === 'ok' && restartAfter[o.stage] !== undefined;

/**
 * Whether `o` opens a new session of its host, given the current one:
 * yes when there is none; for a boot-start observation also when the
 * current session already got past the point where this stage would repeat
 * (a power cycle, a reboot into the installer or the installed system), or
 * when the host was silent for `sessionGapSeconds`; for a heartbeat that
 * reports a new boot id, when the session already reached the installed
 * system; never while a script
 * that sent the host to its disk is the furthest stage (the firmware falling
 * through its boot options). Any other observation joins the current session.
 */
export function opensSession(current: SessionState | null, o: Observation, rules: TimelineRules): boolean {
  if (!current) return true;
  // A reboot the node reported after this session reached the installed system: without a network boot Kiln
  // saw, this is the only sign of the new boot, and joining it to the old session would hide it.
  if (o.reboot === true && current.reached !== null && indexOf(current.reached) >= indexOf('first-boot')) return true;
  if (!startsBoot(o)) return false;
  if (o.at - current.lastAt > rules.sessionGapSeconds * 1000) return true;
  // The script sent the host on to its disk (`exit`): UEFI firmware tries its other network boot options
  // (HTTP boot, PXE) before the disk, and the disk's system reports first-boot. Until the host gets past
  // the script, a boot start is that fall-through, not a new boot (a reboot comes later than the gap, or
  // after the installed system's DHCP).
  if (
    (current.purpose === 'first-boot' || current.purpose === 'local') &&
    current.reached !== null &&
    indexOf(current.reached) <= indexOf('ipxe-script')
  )
    return false;
  const limit = restartAfter[o.stage]!;
  return current.reached !== null && indexOf(current.reached) >= indexOf(limit);
}

/** A new session for the boot that `o` starts (or the first observation of a host whose boot start Kiln did not see). */
export function newSession(id: string, o: Observation): SessionState {
  return {
    id,
    startedAt: o.at,
    firmware: o.firmware ?? (o.stage === 'ipxe-dhcp' || o.stage === 'ipxe-script' ? 'ipxe' : 'unknown'),
    arch: o.arch ?? null,
    purpose: 'unknown',
    reached: null,
    progressAt: o.at,
    lastAt: o.at,
    failure: null,
    stalled: null,
  };
}

/** A new session of a host that was installed and has not booted the installed system yet keeps that `installed` time. */
export function carryHandoff(previous: SessionState | null | undefined, fresh: SessionState): SessionState {
  return previous?.handoff ? { ...fresh, handoff: previous.handoff } : fresh;
}

/**
 * The installed system's first call, with the time since the installer reported `installed` and the hand-off
 * it named ("complete (firstboot), 9.8 s after installed (kexec)"): the time a kexec saves shows beside a
 * firmware reboot's. Other observations unchanged.
 */
export function withHandoffTime(s: SessionState, o: Observation): Observation {
  if (o.stage !== 'first-boot' || o.outcome !== 'ok' || !s.handoff) return o;
  const secs = ((o.at - s.handoff.installedAt) / 1000).toFixed(1);
  return { ...o, detail: `${o.detail}, ${secs} s after installed${s.handoff.via ? ` (${s.handoff.via})` : ''}` };
}

/** Stages that repeat as a boot goes on: each one is progress (other stages repeated are retransmissions or retries). */
const repeating: ReadonlySet<Stage> = new Set<Stage>(['install-step', 'heartbeat']);

/** Whether `stage` observed again is progress (install steps, heartbeats), not a retransmission or retry. */
export const repeatsAsProgress = (stage: Stage): boolean => repeating.has(stage);

/**
 * The session after `o`. An ok observation of a stage beyond the furthest
 * one (or a repeating stage again) is progress: it clears a stall and a
 * non-final failure at or before it, and restarts the deadline.
 */
export function advance(s: SessionState, o: Observation): SessionState {
  const next: SessionState = { ...s, lastAt: Math.max(s.lastAt, o.at) };
  if (o.firmware && (s.firmware === 'unknown' || (s.firmware === 'ipxe' && s.reached === null)))
    next.firmware = o.firmware;
  if (o.arch && !s.arch) next.arch = o.arch;
  if (o.outcome === 'failed') {
    if (!s.failure?.final) next.failure = { stage: o.stage, detail: o.detail, at: o.at, final: o.final === true };
    return next;
  }
  if (o.purpose) next.purpose = o.purpose;
  if (o.stage === 'installed') next.handoff = { installedAt: o.at, via: o.handoff ?? null };
  if (o.stage === 'first-boot') delete next.handoff;
  if (s.failure?.final) return next;
  const further = s.reached === null || indexOf(o.stage) > indexOf(s.reached);
  if (further || (o.stage === s.reached && (repeating.has(o.stage) || queuedAgain(s, o)))) {
    next.reached = o.stage;
    next.progressAt = o.at;
    next.stalled = null;
    if (next.failure && indexOf(o.stage) >= indexOf(next.failure.stage)) next.failure = null;
  }
  return next;
}

/**
 * A queued host asking again for its script is alive, not stalled: its wait counts as progress, at most once per
 * QUEUED_PROGRESS_MS (each progress is written; the repeats between move only the last-seen time).
 */
export const QUEUED_PROGRESS_MS = 5_000;
const queuedAgain = (s: SessionState, o: Observation): boolean =>
  o.stage === 'ipxe-script' &&
  o.purpose === 'queued' &&
  s.purpose === 'queued' &&
  o.at - s.progressAt >= QUEUED_PROGRESS_MS;

/** The stage expected after `s.reached` for the session's purpose; null when the boot needs nothing more from Kiln. */
export function expectedNext(s: Pick<SessionState, 'reached' | 'purpose'>): Stage | null {
  const p = s.purpose;
  switch (s.reached) {
    case null:
      return 'dhcp';
    case 'dhcp':
      return 'boot-file';
    case 'boot-file':
      return 'ipxe-dhcp';
    case 'ipxe-dhcp':
      return 'ipxe-script';
    case 'ipxe-script':
      return p === 'discover' || p === 'wipe' || p === 'install' || p === 'queued'
        ? 'kernel'
        : p === 'first-boot'
          ? 'first-boot'
          : null;
    case 'kernel':
      return 'initrd';
    case 'initrd':
    case 'os-dhcp':
      return p === 'install' ? 'install-plan' : p === 'discover' || p === 'wipe' ? 'agent' : null;
    case 'agent':
      return p === 'discover' ? 'facts' : p === 'install' ? 'install-plan' : null;
    case 'install-plan':
      return 'install-step';
    case 'install-step':
      return 'installed';
    default:
      return null; // facts, installed, first-boot, heartbeat: this boot is done
  }
}

/** Seconds allowed to reach `stage` for a firmware kind. */
export function deadlineOf(stage: Exclude<Stage, 'dhcp'>, firmware: FirmwareKind, rules: TimelineRules): number {
  return rules.firmware[firmware]?.[stage] ?? rules.deadlines[stage];
}

/**
 * The session at `now`: stalled when the expected stage did not come within
 * its deadline. Gives the stall once (`raised`); later checks of the same
 * stall return the session unchanged and no stall.
 */
export function checkStall(
  s: SessionState,
  now: number,
  rules: TimelineRules,
): { session: SessionState; raised: Stall | null } {
  if (s.stalled || s.failure?.final) return { session: s, raised: null };
  const expected = expectedNext(s);
  if (expected === null || expected === 'dhcp') return { session: s, raised: null };
  const seconds = deadlineOf(expected, s.firmware, rules);
  if (now - s.progressAt <= seconds * 1000) return { session: s, raised: null };
  const stall: Stall = { after: s.reached, expected, seconds, at: now };
  return { session: { ...s, stalled: stall }, raised: stall };
}

/** The session's status in one line: `failed at …`, `stopped after …, expected … within n s`, in progress, or complete. */
export function describeSession(s: SessionState, rules: TimelineRules): string {
  const failure = s.failure ? `${s.failure.stage}: ${s.failure.detail}` : '';
  if (s.failure?.final) return `failed at ${failure}`;
  const after = s.reached ?? 'nothing';
  if (s.stalled) {
    return `stopped after ${after}, expected ${s.stalled.expected} within ${s.stalled.seconds} s${failure ? ` (last failure: ${failure})` : ''}`;
  }
  const next = expectedNext(s);
  if (next === null) return `complete after ${after}`;
  const within = next === 'dhcp' ? '' : ` within ${deadlineOf(next, s.firmware, rules)} s`;
  return `after ${after}, expecting ${next}${within}${failure ? ` (last failure: ${failure})` : ''}`;
}

/** The status kind for machines (API, CLI filters). */
export function statusOf(s: SessionState): 'failed' | 'stalled' | 'complete' | 'in-progress' {
  if (s.failure?.final) return 'failed';
  if (s.stalled) return 'stalled';
  return expectedNext(s) === null ? 'complete' : 'in-progress';
}
