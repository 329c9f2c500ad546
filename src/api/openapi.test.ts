import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';

/** `/hosts/:host` → `/hosts/{host}`, a wildcard tail → `{path}` (how the document spells them). */
const openapiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}');

test('every registered route is in the OpenAPI document, with the security its access needs (public ones none)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-openapi-'));
  const c = await createTestController({ boot: { ipxeDir: dir, imagesDir: dir } });
  try {
    const res = await c.app.inject({ url: '/api/v1/openapi.json', headers: { authorization: c.bearer.viewer } });
    assert.equal(res.statusCode, 200);
    const doc = res.json<{
      security: unknown;
      paths: Record<string, Record<string, { security?: unknown; parameters?: Array<{ in: string; name: string }> }>>;
    }>();
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    const routes = c.app.kilnRoutes;
    for (const must of [
      '/api/v1/health',
      '/ipxe/*',
      '/images/*',
      '/boot/profiles/:profile/*',
      '/boot/kiln/:arch/:file',
      '/boot.ipxe',
      '/api/v1/node/discover',
    ]) {
      assert.ok(
        routes.some((r) => r.url === must),
        `route ${must} is registered in this test`,
      );
    }
    for (const r of routes) {
      const path = openapiPath(r.url);
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${r.url} is missing from the OpenAPI document`);
      const want =
        r.access === 'public'
          ? []
          : r.access === 'node'
            ? [{ nodeCredential: [] }]
            : r.access === 'member'
              ? [{ memberCredential: [] }]
              : [{ bearer: [] }];
      assert.deepEqual(op.security, want, `${r.method} ${r.url} (access ${r.access})`);
      for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
        assert.ok(
          op.parameters?.some((p) => p.in === 'path' && p.name === name),
          `${r.method} ${path} declares its path parameter ${name}`,
        );
      }
    }
  } finally {
    await c.close();
  }
});
