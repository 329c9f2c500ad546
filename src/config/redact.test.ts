import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactCredentials } from './redact.js';

test('a URL password is replaced, in nested values too; everything else is untouched', () => {
  assert.deepEqual(
    redactCredentials({
      'database-url': 'postgres://kiln:s3cret@db.example:5432/kiln',
      listen: '127.0.0.1:8080',
      site: { hooks: ['https://user:pw@hook.example/x', 'https://hook.example/y'] },
      n: 3,
    }),
    {
      'database-url': 'postgres://kiln:***@db.example:5432/kiln',
      listen: '127.0.0.1:8080',
      site: { hooks: ['https://user:***@hook.example/x', 'https://hook.example/y'] },
      n: 3,
    },
  );
  assert.equal(redactCredentials('postgres://kiln@db/kiln'), 'postgres://kiln@db/kiln');
  assert.equal(redactCredentials('not a url: a:b@c'), 'not a url: a:b@c');
});
