import type { Command } from '@commander-js/extra-typings';
import { resolve } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { validateProfile } from '../../profile/load-profiles.js';
import { formatValidation, type ProfileSummary, type ProfileValidation } from '../../profile/profile-summary.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

function showProfile(p: ProfileSummary): string {
  const rows: Array<[string, string]> = [
    ['name', p.name],
    ['description', p.description],
    ['os', `${p.os.family} ${p.os.version}`],
    ['arch', p.arch],
    ['install', p.installMethod],
    ['files', p.files.map((f) => `${f.name} (${f.template})`).join(', ') || '-'],
    [
      'variables',
      p.variables
        .map((v) => (v.default === undefined ? `${v.name} (required)` : `${v.name}=${JSON.stringify(v.default)}`))
        .join(', ') || '-',
    ],
    ['snippets', p.overriddenSnippets.join(', ') || '-'],
    [
      'image',
      p.image ? `${p.image.name} disk=${p.image.disk} firmware=${p.image.firmware} layout=${p.image.layout}` : '-',
    ],
  ];
  return rows.map(([k, v]) => `${k.padEnd(13)}${v}`).join('\n');
}

/** `kiln profile list|show|validate`; `validate DIR…` checks directories locally, without a controller. */
export function registerProfileCommands(program: Command, api: () => ApiClient, o: Output): void {
  const profile = program.command('profile').description('install profiles');

  profile
    .command('list')
    .description('loaded profiles, and the ones that failed validation')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const r = await api().get<{ items: ProfileSummary[]; invalid: Array<{ message: string }> }>('/api/v1/profiles');
      emit(o, opts.json, r, () =>
        formatTable(
          ['NAME', 'OS', 'ARCH', 'INSTALL', 'DESCRIPTION'],
          r.items.map((p) => [p.name, `${p.os.family} ${p.os.version}`, p.arch, p.installMethod, p.description]),
        ),
      );
      if (!opts.json) for (const bad of r.invalid) o.err(`invalid: ${bad.message}`);
    });

  profile
    .command('show')
    .description('one profile')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const p = await api().get<ProfileSummary>(`/api/v1/profiles/${encodeURIComponent(name)}`);
      emit(o, opts.json, p, () => showProfile(p));
    });

  profile
    .command('validate')
    .description("validate profile directories locally, or (no DIR) the controller's")
    .argument('[dirs...]', 'profile directories (profiles/<name>)')
    .option('--json', 'print JSON')
    .action(async (dirs, opts) => {
      const items: ProfileValidation[] =
        dirs.length > 0
          ? await Promise.all(dirs.map((d) => validateProfile(resolve(d))))
          : (await api().post<{ items: ProfileValidation[] }>('/api/v1/profiles/validate')).items;
      emit(o, opts.json, items, () => items.map(formatValidation).join('\n'));
      const bad = items.filter((v) => !v.ok).length;
      if (bad > 0) throw new KilnError('profile_invalid', `${bad} of ${items.length} profiles failed validation`);
    });
}
