import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { BOUNDS_KEYWORD } from './json-bounds.js';
import { depthExceededAt } from './json-body.js';

/** The parts of a JSON Schema the bounds walk reads. */
interface JsonSchema {
  [keyword: string]: unknown;
  type?: string;
  maxLength?: number;
  enum?: unknown[];
  const?: unknown;
  maxItems?: number;
  items?: JsonSchema;
  maxProperties?: number;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
}

// Item: a deep JSON body answered 500 (a stack overflow after validation) and
// logged an error stack. Generated over every route that takes a body: each
// must answer 400 with a stable code and log no error.
const DEEP = 5000;
const deepArray = '['.repeat(DEEP) + ']'.repeat(DEEP);
const bodies: Record<string, string> = {
  'a bare deep array': deepArray,
  'a deep array in a field': `{"facts":${deepArray},"name":${deepArray},"mac":${deepArray}}`,
  'deep objects': '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP),
};

describe('deep JSON bodies on every route', () => {
  let c: TestController;
  let nodeCredential = '';
  const lines: string[] = [];
  before(async () => {
    const httpLogger = pino(
      { level: 'debug' },
      {
        write: (s: string) => {
          lines.push(s);
        },
      },
    );
    c = await createTestController({ httpLogger });
    const r = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: { bootMac: '52:54:00:de:e9:01' } },
    });
    assert.equal(r.statusCode, 200, r.body);
    nodeCredential = r.json().credential;
  });
  after(async () => c.close());

  it('the route table has body-taking routes of every access level', () => {
    const withBody = c.app.kilnRoutes.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
    assert.ok(withBody.length >= 20, `only ${withBody.length} routes`);
    for (const a of ['public', 'node', 'operator', 'admin'])
      assert.ok(
        withBody.some((r) => r.access === a),
        a,
      );
  });

  for (const [what, payload] of Object.entries(bodies)) {
    it(`${what} nested ${DEEP} deep → 400 bad_request on every POST/PUT/PATCH/DELETE route, no error logged`, async () => {
      const withBody = c.app.kilnRoutes.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
      const wrong: string[] = [];
      for (const r of withBody) {
        lines.length = 0;
        const url = r.url.replace(/:[A-Za-z]+/g, 'x1').replace(/\*$/, 'x1');
        const auth =
          r.access === 'public' ? undefined : r.access === 'node' ? `Bearer ${nodeCredential}` : c.bearer.admin;
        const res = await c.app.inject({
          method: r.method as 'POST',
          url,
          payload,
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        });
        const code = res.headers['content-type']?.toString().includes('json') ? res.json().error?.code : undefined;
        if (res.statusCode !== 400 || code !== 'bad_request')
          wrong.push(`${r.method} ${r.url}: ${res.statusCode} ${code}`);
        const bad = lines.filter((l) => JSON.parse(l).level >= 50 || /"stack"/.test(l));
        if (bad.length) wrong.push(`${r.method} ${r.url} logged: ${bad[0].slice(0, 200)}`);
      }
      assert.deepEqual(wrong, []);
    });
  }

  it('deep facts.cpu.model, deep bmc.options and deep deploy variables under the parse limit → 400 validation_failed naming the place', async () => {
    const nest = (n: number) => JSON.parse('['.repeat(n) + '"x"' + ']'.repeat(n));
    const discover = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: { bootMac: '52:54:00:de:e9:02', cpu: { model: nest(20) } } },
    });
    assert.equal(discover.statusCode, 400, discover.body);
    assert.equal(discover.json().error.code, 'validation_failed');
    assert.match(discover.json().error.message, /\/cpu\/model\/0\/0.*deeper than 8/);
    const host = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: { authorization: c.bearer.admin },
      payload: { name: 'deep-bmc', bmc: { driver: 'wol', options: { a: nest(20) } } },
    });
    assert.equal(host.statusCode, 400, host.body);
    assert.equal(host.json().error.code, 'validation_failed');
    const enlist = await c.app.inject({
      method: 'POST',
      url: '/api/v1/bmc/enlist',
      headers: { authorization: c.bearer.admin },
      payload: { driver: 'wol', address: 'x', options: { a: nest(20) } },
    });
    assert.equal(enlist.statusCode, 400, enlist.body);
    const deploy = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/deep-bmc/deploy',
      headers: { authorization: c.bearer.admin },
      payload: { variables: { a: nest(20) } },
    });
    assert.equal(deploy.statusCode, 400, deploy.body);
    assert.equal(deploy.json().error.code, 'validation_failed');
    // No host was created by the refused report.
    assert.equal(
      (
        await c.app.inject({ url: '/api/v1/hosts?mac=52:54:00:de:e9:02', headers: { authorization: c.bearer.admin } })
      ).json().items.length,
      0,
    );
  });

  it('wide and long free-form values are capped too (keys, items, string length)', async () => {
    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
    const cases = [
      { bootMac: '52:54:00:de:e9:03', ...wide },
      { bootMac: '52:54:00:de:e9:03', pci: Array.from({ length: 2000 }, () => 1) },
      { bootMac: '52:54:00:de:e9:03', cpu: { model: 'x'.repeat(5000) } },
    ];
    for (const facts of cases) {
      const r = await c.app.inject({ method: 'POST', url: '/api/v1/node/discover', payload: { facts } });
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().error.code, 'validation_failed');
    }
  });

  it('every string, list, map and free-form value in every request body schema has a bound', () => {
    const doc = c.app.swagger() as {
      paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
    };
    const loose: string[] = [];
    const walk = (s: JsonSchema, path: string, inBounds: boolean): void => {
      const bounded = inBounds || s[BOUNDS_KEYWORD] !== undefined;
      for (const k of ['anyOf', 'oneOf', 'allOf'] as const) for (const x of s[k] ?? []) walk(x, path, bounded);
      if (s.type === 'string' && s.maxLength === undefined && !s.enum && s.const === undefined)
        loose.push(`${path}: string without maxLength`);
      if (s.type === 'array') {
        if (s.maxItems === undefined) loose.push(`${path}: list without maxItems`);
        if (s.items) walk(s.items, `${path}[]`, bounded);
      }
      if (s.type === 'object') {
        const open = s.patternProperties || (s.additionalProperties && typeof s.additionalProperties === 'object');
        if (open && s.maxProperties === undefined) loose.push(`${path}: map without maxProperties`);
        for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`, bounded);
        for (const v of Object.values(s.patternProperties ?? {})) walk(v, `${path}.*`, bounded);
      }
      if (s.type === undefined && !s.anyOf && !s.oneOf && !s.allOf && !s.enum && s.const === undefined && !bounded)
        loose.push(`${path}: free-form value without ${BOUNDS_KEYWORD}`);
    };
    let bodies = 0;
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        const schema = op.requestBody?.content?.['application/json']?.schema as JsonSchema | undefined;
        if (schema) {
          bodies++;
          walk(schema, `${m.toUpperCase()} ${p}`, false);
        }
      }
    }
    assert.ok(bodies >= 20, `only ${bodies} body schemas`);
    assert.deepEqual(loose, []);
  });

  it('the depth scan skips brackets inside strings and escapes', () => {
    assert.equal(depthExceededAt('{"a":"[[[[[[\\"[[[["}', 2), -1);
    assert.equal(depthExceededAt('[[[]]]', 3), -1);
    assert.equal(depthExceededAt('[[[[]]]]', 3), 3);
  });
});
