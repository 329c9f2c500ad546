import { Type, type Static } from '@sinclair/typebox';

/** The TFTP port (RFC 1350 §4). A constant: only tests pass another port to `startTftpServer`. */
export const TFTP_PORT = 69;

/** Measured in a mixed 1000-machine boot storm (docs/tftp.md, "Thread priority"). */
const NATIVE_NICE_DEFAULT = 19;

/** Schema of the TFTP slice of the controller config (`tftp-*` settings); every key has a default. */
export const TftpConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'Serve TFTP.' }),
  root: Type.String({
    minLength: 1,
    default: '/var/lib/kiln/tftp',
    description: 'Directory served read-only; nothing outside it is reachable.',
  }),
  address: Type.String({
    minLength: 1,
    default: '0.0.0.0',
    description: 'Address to listen on; each transfer also binds an ephemeral port on it.',
  }),
  maxTransfers: Type.Integer({
    minimum: 1,
    maximum: 20000,
    default: 1000,
    description: 'Concurrent transfers; requests beyond it wait, oldest first, for a free one (docs/tftp.md, Limits).',
  }),
  retransmitMs: Type.Integer({
    minimum: 10,
    maximum: 60000,
    default: 1000,
    description: 'First retransmission timeout when the client sets no timeout option; doubles per retry.',
  }),
  maxRetries: Type.Integer({
    minimum: 0,
    maximum: 20,
    default: 5,
    description: 'Retransmissions before a silent client is dropped (its socket and file closed).',
  }),
  maxBlksize: Type.Integer({
    minimum: 8,
    maximum: 65464,
    default: 65464,
    description: 'Largest block size granted (RFC 2348).',
  }),
  maxWindowsize: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 64,
    description: 'Largest window granted (RFC 7440).',
  }),
  workers: Type.Integer({
    minimum: 0,
    maximum: 64,
    default: 2,
    description:
      'Worker threads that run transfers with the js engine (the listener stays on the main thread); 0 runs every transfer on the main thread.',
  }),
  engine: Type.Union([Type.Literal('native'), Type.Literal('js')], {
    default: 'native',
    description:
      'Who moves DATA and ACKs: native (a C thread per transfer, native/tftp-pump; falls back to js with a warning when not built) or js.',
  }),
  nativeNice: Type.Integer({
    minimum: 0,
    maximum: 19,
    default: NATIVE_NICE_DEFAULT,
    description:
      'native engine only: nice value of each transfer thread, so bulk transfers yield the CPU to DHCP replies and boot scripts, which race firmware timers; 0 = same priority as the controller.',
  }),
});

/** The TFTP config slice, as validated by `TftpConfigSchema`. */
export type TftpConfig = Static<typeof TftpConfigSchema>;

/** The defaults of every TFTP setting (what the schema fills in). */
export const defaultTftpConfig: TftpConfig = {
  enabled: true,
  root: '/var/lib/kiln/tftp',
  address: '0.0.0.0',
  maxTransfers: 1000,
  retransmitMs: 1000,
  maxRetries: 5,
  maxBlksize: 65464,
  maxWindowsize: 64,
  workers: 2,
  engine: 'native',
  nativeNice: NATIVE_NICE_DEFAULT,
};
