import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** Where the CLI sends requests and with which token; `caFingerprint` pins the controller's TLS certificate. */
export interface ClientConfig {
  server: string;
  token: string | null;
  caFingerprint: string | null;
  caFile: string | null;
}

/**
 * Resolves the server URL and token: flags, then KILN_SERVER / KILN_TOKEN,
 * then ~/.config/kiln/config.yaml, then the local controller's first admin
 * token in ./kiln-data/admin-token (so the quick start works with no set-up).
 */
export function resolveClientConfig(
  flags: { server?: string; token?: string },
  env: Record<string, string | undefined>,
  home = homedir(),
): ClientConfig {
  const file = join(env['XDG_CONFIG_HOME'] ?? join(home, '.config'), 'kiln', 'config.yaml');
  let fromFile: Record<string, string> = {};
  if (existsSync(file)) fromFile = (parseYaml(readFileSync(file, 'utf8')) as Record<string, string> | null) ?? {};
  const dataDir = env['KILN_DATA_DIR'] ?? './kiln-data';
  const tokenFile = env['KILN_TOKEN_FILE'] ?? join(dataDir, 'admin-token');
  const localToken = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : null;
  return {
    server: (flags.server ?? env['KILN_SERVER'] ?? fromFile['server'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    token: flags.token ?? env['KILN_TOKEN'] ?? fromFile['token'] ?? localToken,
    caFingerprint: env['KILN_CA_FINGERPRINT'] ?? fromFile['ca-fingerprint'] ?? null,
    caFile: env['KILN_CA_FILE'] ?? fromFile['ca-file'] ?? null,
  };
}
