import { Type, type Static } from '@sinclair/typebox';
import { DhcpPort } from '../../protocols/dhcp4/codes.js';
import { defaultBootFiles } from '../boot-decision.js';
import { RouterAdvertisementConfigSchema, defaultRouterAdvertisementConfig } from '../ra/ra-config.js';

/** DHCP server and PXE boot-server ports (RFC 2131 §4.1, PXE spec 2.1 §2.2). Constants: only tests pass others to `startDhcpServer`. */
export const DHCP_PORTS = { server: DhcpPort.server, client: DhcpPort.client, pxe: DhcpPort.pxe } as const;

/** What Kiln does on one subnet: nothing, PXE boot info only beside a site DHCP server, known hosts only, or everything. */
export const DhcpModeSchema = Type.Union([
  Type.Literal('off'),
  Type.Literal('proxy'),
  Type.Literal('reservation'),
  Type.Literal('full'),
]);

/** One subnet Kiln serves, directly attached or behind a relay (selected by giaddr). */
export const DhcpSubnetSchema = Type.Object({
  cidr: Type.String({ description: 'Subnet in CIDR form, e.g. 10.0.0.0/24.' }),
  mode: DhcpModeSchema,
  pools: Type.Array(Type.Object({ start: Type.String(), end: Type.String() }), {
    default: [],
    description: 'Address ranges handed out in full mode (inclusive).',
  }),
  router: Type.Optional(Type.String({ description: 'Option 3 default gateway.' })),
  dns: Type.Array(Type.String(), { default: [], description: 'Option 6 name servers.' }),
  domainName: Type.Optional(Type.String({ description: 'Option 15.' })),
  ntp: Type.Optional(Type.Array(Type.String(), { description: 'Option 42 NTP servers (addresses).' })),
  mtu: Type.Optional(
    Type.Integer({
      minimum: 68,
      maximum: 65535,
      description: 'Option 26 interface MTU (RFC 2132 §5.1: at least 68), e.g. 9000 on a jumbo-frame network.',
    }),
  ),
  leaseSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 3600, description: 'Option 51 lease time.' }),
  attached: Type.Boolean({
    default: false,
    description:
      "True for a subnet on one of this controller's own interfaces. Kiln finds the interface itself: the one holding an address inside `cidr` (a subnet with such an address is attached even without this flag). Requests without giaddr that arrive there land in this subnet, and replies leave there.",
  }),
  relayed: Type.Optional(
    Type.Boolean({
      description:
        'True for a subnet behind a DHCP relay (requests carry its giaddr): no interface of this controller has an address in it. A subnet that is neither attached nor relayed is a config error.',
    }),
  ),
  interface: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 15,
      description:
        "Linux interface this subnet is directly attached to, e.g. eth1: the explicit override of the interface Kiln derives from its addresses. Kiln opens one socket per interface (SO_BINDTODEVICE, native addon) and serves broadcasts from the arrival interface's subnet.",
    }),
  ),
  serverAddress: Type.Optional(
    Type.String({
      description:
        "This controller's address on this subnet (option 54, siaddr); defaults to dhcp.serverAddress. Set it per interface on a multi-homed controller.",
    }),
  ),
  httpBase: Type.Optional(
    Type.String({ description: "HTTP boot base URL for this subnet's clients; defaults to dhcp.httpBase." }),
  ),
});

/** Schema of the `dhcp` slice of the controller config. */
export const DhcpConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: false, description: 'Serve DHCPv4 (ports 67 and 4011).' }),
  listenAddress: Type.String({
    default: '0.0.0.0',
    description: 'Address the sockets bind; 0.0.0.0 is needed to receive broadcasts.',
  }),
  serverAddress: Type.String({
    description: "This controller's address as clients and relays reach it: option 54, siaddr (TFTP next-server).",
  }),
  httpBase: Type.String({
    description: 'Base URL of the HTTP boot server, no trailing slash, e.g. http://10.0.0.1:8080.',
  }),
  bootFiles: Type.Object(
    { biosPxe: Type.String(), efiX64: Type.String(), efiArm64: Type.String() },
    { default: defaultBootFiles },
  ),
  subnets: Type.Array(DhcpSubnetSchema, { default: [] }),
  offerHoldSeconds: Type.Integer({
    minimum: 1,
    maximum: 60,
    default: 5,
    description:
      "How long an offered address is kept for the client's REQUEST (s). Short, so a DISCOVER storm from clients that never REQUEST cannot hold the pool for long; a client that REQUESTs later than this is NAKed only if its address went to another client meanwhile.",
  }),
  groupCommitMaxBatch: Type.Integer({
    minimum: 1,
    maximum: 10_000,
    default: 256,
    description: 'Most lease writes committed in one transaction.',
  }),
  groupCommitIntervalMs: Type.Integer({
    minimum: 0,
    maximum: 50,
    default: 5,
    description:
      'While lease writes keep coming, start a group commit at most this often (ms), so one fsync covers more ACKs and fewer bytes are written per ACK; an ACK waits at most this much longer. 0: commit as soon as the previous commit ends.',
  }),
  receiveBufferKiB: Type.Integer({
    minimum: 0,
    maximum: 65_536,
    default: 1024,
    description:
      'Receive buffer of each DHCP socket in KiB (0 = the system default): room for a boot storm\'s burst (a deeper queue is not better: at 16 MiB a 10 000-machine storm was answered later than its clients waited, docs/dhcp.md "Receive buffer"). Set past net.core.rmem_max with SO_RCVBUFFORCE when Kiln has CAP_NET_ADMIN (root); otherwise capped by net.core.rmem_max, and a smaller grant is logged at start.',
  }),
  queueLimit: Type.Integer({
    minimum: 16,
    maximum: 1_000_000,
    default: 2048,
    description:
      'Most datagrams waiting to be handled (admission control). Past it, the oldest DISCOVER is shed first; REQUESTs, which complete a client already offered an address, go before DISCOVERs.',
  }),
  queueMaxAgeMs: Type.Integer({
    minimum: 10,
    maximum: 60_000,
    default: 2000,
    description:
      'A DISCOVER that waited longer than this (ms) is shed unanswered; a REQUEST, DECLINE, RELEASE or INFORM may wait four times as long.',
  }),
  worker: Type.Boolean({
    default: true,
    description:
      "Run the DHCP server on its own thread (a worker with its own event loop and database connections), so a boot storm's file serving on the main thread cannot delay DHCP answers. false: on the main thread (as before; also what an in-memory store gets).",
  }),
  routerAdvertisements: RouterAdvertisementConfigSchema,
});

/** The validated `dhcp` config slice. */
export type DhcpConfig = Static<typeof DhcpConfigSchema>;
/** One subnet of `DhcpConfig`. */
export type DhcpSubnet = Static<typeof DhcpSubnetSchema>;

/** Defaults of the DHCP slice; `serverAddress` and `httpBase` are filled by `main` from the HTTP settings. */
export const defaultDhcpConfig: DhcpConfig = {
  enabled: false,
  listenAddress: '0.0.0.0',
  serverAddress: '0.0.0.0',
  httpBase: 'http://0.0.0.0:8080',
  bootFiles: defaultBootFiles,
  subnets: [],
  offerHoldSeconds: 5,
  groupCommitMaxBatch: 256,
  groupCommitIntervalMs: 5,
  receiveBufferKiB: 1024,
  queueLimit: 2048,
  queueMaxAgeMs: 2000,
  worker: true,
  routerAdvertisements: defaultRouterAdvertisementConfig,
};
