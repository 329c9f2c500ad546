import type { PowerState } from '../power-driver.js';

/**
 * Parses the stdout of `ipmitool chassis power status`. ipmitool prints
 * exactly `Chassis Power is on` or `Chassis Power is off` (lib/ipmi_chassis.c,
 * ipmi_chassis_print_power_status); anything else is rejected (undefined) so
 * a changed tool or a confused BMC never reads as a power state.
 */
export function parsePowerStatus(stdout: string): PowerState | undefined {
  const hits = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('Chassis Power is'));
  if (hits.length !== 1) return undefined;
  const m = /^Chassis Power is (on|off)$/.exec(hits[0]);
  return m ? (m[1] as PowerState) : undefined;
}

/** Why an ipmitool call failed, judged from its stderr (run with `-v`). */
export type IpmitoolFailure = 'no_answer' | 'auth' | 'cipher' | 'other';

/**
 * Classifies ipmitool's stderr. With `-v`, a BMC that never answers prints
 * "Get Auth Capabilities error" before "Unable to establish IPMI v2 / RMCP+
 * session"; a wrong password prints "RAKP 2 HMAC is invalid"; an unknown
 * user "Unauthorized name"; an unsupported cipher suite "invalid
 * authentication algorithm".
 */
export function classifyIpmitoolError(stderr: string): IpmitoolFailure {
  if (
    /Get Auth Capabilities error|No response from remote controller|Insufficient resources for session|No response/i.test(
      stderr,
    )
  )
    return 'no_answer';
  if (
    /RAKP 2 HMAC is invalid|RAKP 4 message has invalid integrity|Unauthorized name|invalid password|Invalid user name/i.test(
      stderr,
    )
  )
    return 'auth';
  if (
    /invalid authentication algorithm|invalid integrity algorithm|invalid confidentiality algorithm|cipher suite/i.test(
      stderr,
    )
  )
    return 'cipher';
  return 'other';
}

/**
 * The BMC's own message from ipmitool's stderr: the informative lines, minus
 * `-v` chatter (registry loading, IPMB discovery). Returns at most 500 characters.
 */
export function bmcMessage(stderr: string): string {
  const noise =
    /^(Loading IANA PEN Registry|Running Get VSO|Invalid completion code received: Invalid command|Discovered IPMB|>> |Using best available cipher)/;
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^>\s*/, '').trim())
    .filter((l) => l && !noise.test(l));
  return lines.join('; ').slice(0, 500) || 'ipmitool failed without a message';
}
