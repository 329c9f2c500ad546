// @peculiar/x509's declarations name the DOM's global `Crypto`; Kiln compiles without the DOM
// library, so that name is Node's WebCrypto (what Kiln passes to every @peculiar/x509 call).
import type { webcrypto } from 'node:crypto';

declare global {
  type Crypto = webcrypto.Crypto;
}
