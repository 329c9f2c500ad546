import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, html, query, trusted } from './html.js';
import { csrfMatches, csrfToken, safeNext, sessionCookie } from './session.js';
import { parseVariables } from './action-routes.js';

test('html escapes every interpolated text, in bodies and quoted attributes', () => {
  const name = `"><script>alert('x')</script>&`;
  const out = html`<a title="${name}">${name}</a>`.text;
  assert.equal(
    out,
    '<a title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</a>',
  );
  assert.doesNotMatch(out, /<script>/);
  assert.equal(escapeHtml('`'), '&#96;');
});

test('html nests markup without escaping it twice, joins lists and drops empty values', () => {
  const inner = html`<b>${'<i>'}</b>`;
  assert.equal(
    html`<p>${inner}${[html`<br />`, 'a<b', 3]}${null}${undefined}${false}</p>`.text,
    '<p><b>&lt;i&gt;</b><br />a&lt;b3</p>',
  );
  assert.equal(html`${trusted('<rect/>')}`.text, '<rect/>');
});

test('query keeps only given values and encodes them', () => {
  assert.equal(query({ state: 'ready', tag: '', mac: undefined, prefix: 'a&b=c' }), '?state=ready&prefix=a%26b%3Dc');
  assert.equal(query({}), '');
});

test('the CSRF token is bound to the session secret and compared exactly', () => {
  const a = csrfToken('kt_session-a');
  assert.equal(a, csrfToken('kt_session-a'));
  assert.notEqual(a, csrfToken('kt_session-b'));
  assert.ok(csrfMatches('kt_session-a', a));
  assert.ok(!csrfMatches('kt_session-b', a));
  assert.ok(!csrfMatches('kt_session-a', undefined));
  assert.ok(!csrfMatches('kt_session-a', ''));
  assert.ok(!csrfMatches('kt_session-a', `${a}x`));
  assert.ok(!csrfMatches('kt_session-a', ['x']));
});

test('the session cookie is HttpOnly and SameSite=Strict, Secure over TLS, cleared with Max-Age=0', () => {
  const plain = sessionCookie('kt_abc', { secure: false, maxAgeSeconds: 3600.7 });
  assert.equal(plain, 'kiln_session=kt_abc; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict');
  assert.match(sessionCookie('kt_abc', { secure: true, maxAgeSeconds: 10 }), /; Secure$/);
  assert.equal(sessionCookie(null, { secure: false }), 'kiln_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict');
});

test('after login only a same-site path is followed', () => {
  assert.equal(safeNext('/ui/hosts?state=ready'), '/ui/hosts?state=ready');
  for (const bad of [
    '//evil.example/',
    '/\\evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
    '',
    5,
    '/a b',
  ])
    assert.equal(safeNext(bad), '/', String(bad));
});

test('deploy variables are key=value pairs', () => {
  assert.deepEqual(parseVariables(' a=1, b = x=y \n c='), { a: '1', b: 'x=y', c: '' });
  assert.deepEqual(parseVariables(undefined), {});
  assert.throws(() => parseVariables('novalue'), /key=value/);
});
