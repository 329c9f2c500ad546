import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { signWebhook, verifyWebhook } from './sign-webhook.js';

describe('webhook signature', () => {
  it('is HMAC-SHA256 over "<timestamp>.<body>"', () => {
    const want = createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex');
    assert.equal(signWebhook('k', 1700000000, '{"a":1}'), `sha256=${want}`);
  });
  it('verifies, and rejects a changed body, another key or a stale timestamp', () => {
    const sig = signWebhook('k', 1000, 'x');
    assert.equal(verifyWebhook('k', 1000, 'x', sig, 1010), true);
    assert.equal(verifyWebhook('k', 1000, 'y', sig, 1010), false);
    assert.equal(verifyWebhook('j', 1000, 'x', sig, 1010), false);
    assert.equal(verifyWebhook('k', 1000, 'x', sig, 2000), false);
  });
});
