import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fail, ok, type Check } from '../check.js';

/** What the check reads of a path: its mode bits, owner and type. */
export type StatPath = (path: string) => Promise<{ mode: number; uid: number; isDirectory: boolean } | null>;

const realStat: StatPath = (p) =>
  stat(p).then(
    (s) => ({ mode: s.mode & 0o7777, uid: s.uid, isDirectory: s.isDirectory() }),
    () => null,
  );

/** Secrets inside the data dir that must be readable by Kiln's user alone (README, docs/security.md). */
export const DATA_DIR_SECRETS = [
  'data.key',
  'admin-token',
  'tls/ca-key.pem',
  'tls/server-key.pem',
  'ssh/ssh_ca_ed25519',
];

/**
 * `data-dir-permissions`: the data dir exists, is a directory owned by Kiln's
 * user, writable, and open to nobody else (0700: it holds the data key, the CA
 * keys and the admin token); each secret in it present is 0600 or stricter.
 */
export function dataDirCheck(o: {
  dataDir: string;
  /** Kiln's user id (default process.getuid()). */
  uid?: number;
  stat?: StatPath;
  writable?: (path: string) => Promise<boolean>;
}): Check {
  const statPath = o.stat ?? realStat;
  const writable =
    o.writable ??
    ((p) =>
      access(p, constants.W_OK).then(
        () => true,
        () => false,
      ));
  const uid = o.uid ?? process.getuid?.() ?? 0;
  return {
    name: 'data-dir-permissions',
    async run() {
      const dir = o.dataDir;
      const s = await statPath(dir);
      if (!s || !s.isDirectory)
        return fail(
          `${dir} is missing or not a directory`,
          `create it: install -d -m 0700 ${dir}, then restart kiln serve`,
        );
      if (s.uid !== uid)
        return fail(`${dir} is owned by uid ${s.uid}, kiln runs as uid ${uid}`, `chown -R ${uid} ${dir}`);
      if ((s.mode & 0o077) !== 0)
        return fail(
          `${dir} has mode ${s.mode.toString(8).padStart(4, '0')}: others can read or change keys and tokens`,
          `chmod 0700 ${dir}`,
        );
      if (!(await writable(dir))) return fail(`${dir} is not writable by kiln`, `chmod u+w ${dir}`);
      for (const rel of DATA_DIR_SECRETS) {
        const f = await statPath(join(dir, rel));
        if (f && !f.isDirectory && (f.mode & 0o077) !== 0)
          return fail(
            `${join(dir, rel)} has mode ${f.mode.toString(8).padStart(4, '0')}: a secret readable by others`,
            `chmod 0600 ${join(dir, rel)}`,
          );
      }
      return ok(`${dir} is 0${s.mode.toString(8)}, owned by uid ${uid}, writable; secrets 0600`);
    },
  };
}
