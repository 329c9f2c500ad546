import { Type } from '@sinclair/typebox';
import type { KilnFastify } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import type { ProfileView } from './api-types.js';
import { query, seg } from './html.js';
import { profilesBody, type PreviewView, type ValidationView } from './profile-page.js';
import { may, ok, sendPage, sendRefusal, uiUser, uiRoute, FormBody } from './ui-request.js';

const Params = Type.Object({ host: Type.String({ maxLength: 253 }) });

/** `key=value, key=value` (or one per line) as deploy variables; a part without `=` is an error. */
export function parseVariables(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(/[,\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const at = t.indexOf('=');
    if (at < 1)
      throw new KilnError('validation_failed', `variables are key=value pairs separated by commas; "${t}" is not one`);
    out[t.slice(0, at).trim()] = t.slice(at + 1).trim();
  }
  return out;
}

/**
 * The actions: each is one API call under the user's session, answered by
 * the API (a viewer's forged POST gets the API's 403), then a redirect back
 * to the page (post/redirect/get) or the API's refusal as a page.
 */
export function actionRoutes(app: KilnFastify): void {
  const hostAction = (path: 'deploy' | 'release' | 'power', body: (form: Record<string, string>) => unknown) =>
    app.post(
      `/ui/hosts/:host/${path}`,
      { config: uiRoute, schema: { tags: ['ui'], params: Params, body: FormBody } },
      async (req, reply) => {
        const u = uiUser(app, req);
        const back = `/ui/hosts/${seg(req.params.host)}`;
        const a = await u.api('POST', `/api/v1/hosts/${seg(req.params.host)}/${path}`, body(req.body));
        if (a.status !== 200) return sendRefusal(reply, u.viewer, a, back);
        const done = path === 'power' ? `power ${String(req.body['action'])}` : path;
        return reply.redirect(`${back}${query({ done })}`, 303);
      },
    );
  hostAction('deploy', (f) => ({
    ...(f['profile'] ? { profile: f['profile'] } : {}),
    variables: parseVariables(f['variables']),
    reason: 'web UI',
  }));
  hostAction('release', (f) => ({ wipe: f['wipe'] === 'true', reason: 'web UI' }));
  hostAction('power', (f) => ({ action: f['action'], reason: 'web UI' }));

  const profilesPage = async (
    u: ReturnType<typeof uiUser>,
    extra: { validation?: ValidationView[]; preview?: PreviewView },
  ) => {
    const p = ok<{ items: ProfileView[]; invalid: Array<{ message: string }> }>(await u.api('GET', '/api/v1/profiles'));
    return profilesBody({
      viewer: u.viewer,
      profiles: p.items,
      invalid: p.invalid,
      validation: extra.validation ?? null,
      canPreview: may(u.viewer, 'preview'),
      preview: extra.preview ?? null,
    });
  };
  app.post(
    '/ui/profiles/validate',
    { config: uiRoute, schema: { tags: ['ui'], body: FormBody } },
    async (req, reply) => {
      const u = uiUser(app, req);
      const validation = ok<{ items: ValidationView[] }>(await u.api('POST', '/api/v1/profiles/validate', {})).items;
      const body = await profilesPage(u, { validation });
      return sendPage(reply, { title: 'Profiles', viewer: u.viewer, current: '/ui/profiles', body });
    },
  );
  app.post(
    '/ui/profiles/preview',
    { config: uiRoute, schema: { tags: ['ui'], body: FormBody } },
    async (req, reply) => {
      const u = uiUser(app, req);
      const host = req.body['host'] ?? '';
      const profile = req.body['profile'] ?? '';
      const a = await u.api('POST', `/api/v1/hosts/${seg(host)}/deploy`, {
        dryRun: true,
        profile,
        variables: parseVariables(req.body['variables']),
      });
      if (a.status === 403) return sendRefusal(reply, u.viewer, a, '/ui/profiles');
      const preview: PreviewView =
        a.status === 200
          ? { host, profile, files: (a.body as { files?: Record<string, string> }).files ?? {} }
          : {
              host,
              profile,
              files: {},
              error: (a.body as { error?: { message?: string } })?.error?.message ?? `HTTP ${a.status}`,
            };
      const body = await profilesPage(u, { preview });
      return sendPage(reply, { title: 'Profiles', viewer: u.viewer, current: '/ui/profiles', body });
    },
  );
}
