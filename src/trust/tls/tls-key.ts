// PKCS#8 PEM private keys for TLS, usable both by node:tls (KeyObject/PEM)
// and by @peculiar/x509 (WebCrypto webcrypto.CryptoKey).
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';

/** One private key in the two forms Kiln needs. */
export interface TlsPrivateKey {
  keyObject: KeyObject;
  /** The same key as a non-extractable WebCrypto key, for signing certificates. */
  cryptoKey: webcrypto.CryptoKey;
}

/** PKCS#8 PEM of an extractable WebCrypto private key. */
export async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
}

/**
 * Imports a PEM private key (PKCS#8, or SEC1 "EC PRIVATE KEY" as operators'
 * tools often write). Only ECDSA P-256 keys can sign certificates here; other
 * keys are rejected with config_invalid naming `source`.
 */
export async function importPrivateKeyPem(pem: string, source: string): Promise<TlsPrivateKey> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new KilnError(
      'config_invalid',
      `${source}: the private key does not parse (expected an unencrypted PEM key)`,
      { cause: err },
    );
  }
  const details = keyObject.asymmetricKeyDetails;
  if (keyObject.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new KilnError(
      'config_invalid',
      `${source}: Kiln's CA key must be ECDSA P-256, found ${keyObject.asymmetricKeyType}${details?.namedCurve ? ` ${details.namedCurve}` : ''}`,
    );
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
  ]);
  return { keyObject, cryptoKey };
}
