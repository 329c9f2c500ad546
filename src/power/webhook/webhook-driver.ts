import { request } from 'undici';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertBootOverride, assertPowerAction, unsupported } from '../capability.js';
import { systemClock, type Clock } from '../clock.js';
import { optionReader } from '../driver-options.js';
import {
  noCapabilities,
  powerActions,
  type BmcSettings,
  type PowerCapabilities,
  type PowerDriver,
} from '../power-driver.js';
import { checkEgressUrl } from '../../net/egress-url.js';
import { readCapped } from '../read-capped.js';
import { redactSecrets } from '../secret.js';
import { signatureHeader, signWebhook, timestampHeader } from './sign-webhook.js';

const urlKeys = [...powerActions, 'status', 'boot'] as const;

/** An operator's webhook URL, as Kiln will POST to it: the egress rule of `checkEgressUrl` (net/egress-url.ts). */
export function checkWebhookUrl(key: string, raw: string): URL {
  return checkEgressUrl(raw, (why) => {
    throw new KilnError('validation_failed', `webhook driver: options.urls.${key} ${why}`, {
      issues: [{ path: `/bmc/options/urls/${key}`, code: 'url_refused', message: why }],
    });
  });
}

/**
 * Creates a webhook driver: the operator's own service does the power work.
 * `options.urls` maps `on`/`off`/`cycle`/`soft-off`/`status`/`boot` to URLs;
 * only configured ones become capabilities. Each call POSTs JSON
 * `{ action, host, …}` signed with the password as HMAC key (see
 * sign-webhook.ts). `status` must answer `{ "state": "on" | "off" }`.
 * `address` is sent as `host`. Options: `timeoutMs` (10000).
 */
export function createWebhookDriver(settings: BmcSettings, deps: { logger?: Logger; clock?: Clock } = {}): PowerDriver {
  const name = settings.driver || 'webhook';
  const opt = optionReader(name, settings.options);
  const urls = opt.record('urls') ?? {};
  const timeoutMs = opt.number('timeoutMs', 10_000);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const secret = settings.password ?? '';
  for (const k of Object.keys(urls)) {
    if (!(urlKeys as readonly string[]).includes(k)) {
      throw new KilnError('validation_failed', `webhook driver: unknown action "${k}" in options.urls`, {
        issues: [{ path: `/bmc/options/urls/${k}`, code: 'unknown_action', message: `one of ${urlKeys.join(', ')}` }],
      });
    }
    checkWebhookUrl(k, urls[k]);
  }
  const caps: PowerCapabilities = {
    ...noCapabilities,
    powerActions: powerActions.filter((a) => urls[a]),
    status: !!urls.status,
    bootOnce: urls.boot ? ['network', 'disk', 'http'] : [],
    bootPersistent: urls.boot ? ['network', 'disk', 'http'] : [],
  };

  async function post(
    key: string,
    payload: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const url = urls[key];
    const body = JSON.stringify({ action: key, host: settings.address, ...payload });
    const ts = Math.floor(clock.now() / 1000);
    const timeout = AbortSignal.timeout(timeoutMs);
    let res;
    try {
      res = await request(url, {
        method: 'POST',
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        headers: {
          'content-type': 'application/json',
          [timestampHeader]: String(ts),
          [signatureHeader]: signWebhook(secret, ts, body),
        },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      const e = err as Error & { code?: string };
      if (timeout.aborted || signal?.aborted || /Timeout/i.test(`${e.name} ${e.code}`)) {
        throw new KilnError('bmc_timeout', `power webhook ${key} did not answer within ${timeoutMs} ms`);
      }
      logger.debug(
        { action: key, err: redactSecrets(`${e.code ?? ''} ${e.message}`.trim(), [secret]) },
        'power webhook request failed',
      );
      throw new KilnError(
        'bmc_error',
        `power webhook ${key} failed: ${e.code && /^[A-Z_]{1,40}$/.test(e.code) ? e.code : 'request error'} (details in the controller log at debug)`,
      );
    }
    // Read at most 64 KiB: the receiver's body is parsed for status, and otherwise only logged.
    const { text } = await readCapped(res.body, 64 * 1024).catch(() => ({ text: '' }));
    // The receiver's body is its own text: logged at debug, never put in an error (errors become events viewers read).
    logger.debug(
      { action: key, status: res.statusCode, body: redactSecrets(text.slice(0, 2000), [secret]) },
      'power webhook',
    );
    if (res.statusCode < 200 || res.statusCode >= 300) {
      // 3xx included: redirects are not followed (the signature is for this URL only).
      throw new KilnError(
        'bmc_error',
        `power webhook ${key} answered HTTP ${res.statusCode}${res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : ''}`,
        { details: { status: res.statusCode } },
      );
    }
    try {
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }

  return {
    driver: name,
    capabilities: caps,
    async powerStatus(o) {
      if (!caps.status) throw unsupported(name, 'power status');
      const r = await post('status', {}, o?.signal);
      if (r.state !== 'on' && r.state !== 'off')
        throw new KilnError(
          'bmc_error',
          'power webhook status answered without "state": "on" | "off" (its reply is in the controller log at debug)',
        );
      return r.state;
    },
    async setPower(action, o) {
      assertPowerAction(name, caps, action);
      await post(action, {}, o?.signal);
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, caps, b);
      await post('boot', { device: b.device, persistent: !!b.persistent }, o?.signal);
    },
    insertMedia: async () => {
      throw unsupported(name, 'virtualMedia');
    },
    ejectMedia: async () => {
      throw unsupported(name, 'virtualMedia');
    },
    listSystems: async () => {
      throw unsupported(name, 'enumerate');
    },
    readInventory: async () => {
      throw unsupported(name, 'inventory');
    },
    close: async () => {},
  };
}
