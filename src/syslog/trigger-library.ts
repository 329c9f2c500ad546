/**
 * The shipped trigger library (`syslog.triggerLibrary`, on by default):
 * lines that mean a machine is in trouble whatever it runs. Patterns run on
 * the linear-time engine (linear-regex.ts), so they are case-sensitive and
 * spell both cases where senders differ.
 */
export interface TriggerSpec {
  name: string;
  pattern: string;
  /** This severity and more severe only (0 emerg … 7 debug). */
  severity?: number | undefined;
  /** A host name or id. */
  host?: string | undefined;
  session?: string | undefined;
}

export const TRIGGER_LIBRARY: readonly TriggerSpec[] = [
  // The kernel's last words (kernel/panic.c): "Kernel panic - not syncing: ..."
  { name: 'kernel-panic', pattern: 'Kernel panic - not syncing' },
  // mm/oom_kill.c: "<comm> invoked oom-killer: ..." then "Out of memory: Killed process <pid> (<comm>) ..."
  { name: 'oom-killer', pattern: 'invoked oom-killer|Out of memory: Kill(ed)? process' },
  // block/blk-core.c "I/O error, dev sda, sector ..." (older "blk_update_request: I/O error"), fs/buffer.c
  // "Buffer I/O error on dev", SCSI sense "critical medium error", file-system errors from ext4 and XFS.
  {
    name: 'disk-io-error',
    pattern:
      'I/O error, dev [a-z0-9]+|blk_update_request: I/O error|Buffer I/O error on dev|[Cc]ritical medium error|EXT4-fs error|XFS \\([^)]*\\): (metadata )?I/O error',
  },
  // Installers: Kiln's image writer and scripts ("kiln: install failed ..."), debian-installer
  // ("Installation step failed"), curtin/subiquity ("finish: ... FAIL"), anaconda ("Traceback").
  {
    name: 'installer-failure',
    pattern:
      'kiln: [a-z -]*(install|write|late step)[a-z ]* failed|Installation step failed|curtin.*: FAIL|anaconda.*Traceback',
  },
];
