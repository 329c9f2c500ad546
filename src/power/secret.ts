/**
 * Shortest secret that is replaced by value. A shorter one (a 1-character
 * password is "p") matches ordinary text, so replacing it both mangles the
 * text and shows where the secret occurs ("htt***s" reveals the password):
 * a text containing a short secret is dropped whole instead.
 */
export const minRedactableSecret = 8;

/** What stands in for a text that contained a secret too short to cut out. */
export const withheldText = '(text withheld: it contains the BMC password, which is too short to cut out)';

/**
 * Replaces every occurrence of each secret in `text` with `***`; when a
 * secret shorter than `minRedactableSecret` occurs at all, returns
 * `withheldText` instead. Applied to any BMC-supplied text before it reaches
 * an error or a log line, in case a BMC echoes what it was sent. Empty
 * secrets are ignored.
 */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (!s || !text.includes(s)) continue;
    if (s.length < minRedactableSecret) return withheldText;
    out = out.split(s).join('***');
  }
  return out;
}

/**
 * A value a peer (BMC, webhook receiver) chose, as Kiln may quote it in an
 * error, event or reply: a short identifier (reset type, system id, Redfish
 * path) or `?`. Anything longer or freer than an identifier is peer text,
 * which stays in the debug log.
 */
export function peerToken(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9._:/-]{1,80}$/.test(value) ? value : '?';
}
