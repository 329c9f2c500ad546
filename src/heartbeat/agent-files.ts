import { readFile } from 'node:fs/promises';
import { packagePath } from '../runtime/package-path.js';

/**
 * The heartbeat agent's files as an installed host gets them, by the name
 * they take in /usr/lib/kiln (the installer's late step fetches each from
 * GET /api/v1/node/agent/{name}): the agent and the discovery agent's own
 * fact collection, so a re-audit hashes what discovery hashed.
 */
export const agentFiles: Readonly<Record<string, string>> = {
  'lib.sh': 'node/agent/lib.sh',
  'net.sh': 'node/agent/net.sh',
  'facts.sh': 'node/agent/facts.sh',
  'kiln-heartbeat': 'node/heartbeat/kiln-heartbeat.sh',
  'kiln-heartbeat.service': 'node/heartbeat/kiln-heartbeat.service',
  'kiln-heartbeat.timer': 'node/heartbeat/kiln-heartbeat.timer',
};

/** The text of agent file `name`, or null for a name that is not one. */
export async function readAgentFile(name: string): Promise<string | null> {
  const rel = Object.hasOwn(agentFiles, name) ? agentFiles[name] : undefined;
  return rel ? readFile(packagePath(rel), 'utf8') : null;
}
