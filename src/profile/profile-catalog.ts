import type { KilnError } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { LoadedProfile } from './loaded-profile.js';
import { loadProfiles, validateProfile, listProfiles } from './load-profiles.js';
import { join } from 'node:path';
import type { ProfileValidation } from './profile-summary.js';

/**
 * The controller's loaded profiles. Loaded (and validated) at start and on
 * `reload()`; a broken profile is left out and reported, never half-loaded,
 * so it cannot reach a booting machine.
 */
export function createProfileCatalog(dir: string, log: Logger = silentLogger) {
  let profiles = new Map<string, LoadedProfile>();
  let errors: KilnError[] = [];
  return {
    async reload(): Promise<{ loaded: string[]; errors: KilnError[] }> {
      const res = await loadProfiles(dir, { log }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') {
          log.warn({ dir }, 'profiles directory does not exist; no profiles loaded');
          return { profiles: new Map<string, LoadedProfile>(), errors: [] as KilnError[] };
        }
        throw err;
      });
      profiles = res.profiles;
      errors = res.errors;
      log.info({ dir, loaded: [...profiles.keys()], invalid: errors.length }, 'profiles loaded');
      return { loaded: [...profiles.keys()], errors };
    },
    get: (name: string): LoadedProfile | undefined => profiles.get(name),
    has: (name: string): boolean => profiles.has(name),
    list: (): LoadedProfile[] => [...profiles.values()],
    errors: (): KilnError[] => errors,
    /** Validates every profile directory (also broken ones) without changing what is loaded. */
    async validateAll(): Promise<ProfileValidation[]> {
      const names = await listProfiles(dir).catch(() => [] as string[]);
      return Promise.all(names.map((n) => validateProfile(join(dir, n))));
    },
  };
}

/** The catalog's type. */
export type ProfileCatalog = ReturnType<typeof createProfileCatalog>;
