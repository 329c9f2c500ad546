/**
 * Replaces every occurrence of each secret in `text` with `***`. Applied to
 * any BMC-supplied text before it reaches an error or a log line, in case a
 * BMC echoes what it was sent. Empty secrets are ignored.
 */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}
