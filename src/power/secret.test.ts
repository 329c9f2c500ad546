// Redaction by value, and its limit: a secret too short to cut out drops the whole text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { eventFromReport } from './power-events.js';
import { minRedactableSecret, peerToken, redactSecrets, withheldText } from './secret.js';

describe('redactSecrets', () => {
  it('cuts out a long secret wherever it occurs', () => {
    assert.equal(
      redactSecrets('login failed for hunter2-secret (hunter2-secret)', ['hunter2-secret']),
      'login failed for *** (***)',
    );
  });

  it('drops the whole text for a short secret instead of "htt***s"', () => {
    const text = 'BMC https://10.0.0.5 refused the credentials (HTTP 401)';
    assert.equal(redactSecrets(text, ['p']), withheldText);
    assert.equal(redactSecrets(text, ['12345']), text, 'a short secret that does not occur changes nothing');
    assert.equal(redactSecrets(text, ['']), text);
  });

  it('no output ever contains a secret, nor a cut that points at a short one (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.string({ minLength: 1, maxLength: 12 }), (text, secret) => {
        const out = redactSecrets(`${text}${secret}${text}`, [secret]);
        assert.ok(
          !out.includes(secret) || withheldText.includes(secret) || '***'.includes(secret),
          JSON.stringify({ text, secret, out }),
        );
        if (secret.length < minRedactableSecret) assert.equal(out, withheldText);
      }),
      { numRuns: 500, seed: 11 },
    );
  });

  it('a power.failed event for a host with a 1-character password carries no partial redaction', () => {
    const e = eventFromReport(
      {
        hostId: 'h1',
        driver: 'redfish',
        operation: { kind: 'status' },
        origin: { actor: 'token:t', reason: null },
        phase: 'failed',
        error: { code: 'bmc_error', message: 'BMC https://10.0.0.5 refused the credentials (HTTP 401)' },
      } as never,
      'n1',
      ['p'],
    );
    assert.ok(!e.message.includes('***') && e.message.includes(withheldText), e.message);
    assert.equal((e.data as { error: { message: string } }).error.message, withheldText);
  });
});

describe('peerToken', () => {
  it('quotes identifiers, replaces free text', () => {
    assert.equal(peerToken('/redfish/v1/Systems/437XR1138R2'), '/redfish/v1/Systems/437XR1138R2');
    assert.equal(peerToken('GracefulShutdown'), 'GracefulShutdown');
    for (const v of ['db password is hunter2', 'x'.repeat(81), '', 3, null, '<b>hi</b>'])
      assert.equal(peerToken(v), '?');
  });
});
