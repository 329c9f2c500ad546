import { Type, type Static } from '@sinclair/typebox';
import { DiscoveryActionsSchema } from '../selftest/discovery-actions.js';

const strict = { additionalProperties: false } as const;

/** Install methods a profile may use; `kiln-image` is Kiln's own image writer. */
export const installMethods = ['preseed', 'autoinstall', 'kickstart', 'cloud-init', 'kiln-image'] as const;

/** A variable's value: a scalar or a list of strings. */
export const VariableValueSchema = Type.Union([
  Type.String(),
  Type.Number(),
  Type.Boolean(),
  Type.Array(Type.String()),
]);

/** One declared profile variable; without `default` a value must be given per host or group. */
export const VariableSchema = Type.Object(
  {
    description: Type.String({ minLength: 1 }),
    default: Type.Optional(VariableValueSchema),
  },
  strict,
);

/** One file served to the node: `name` in the URL, `template` relative to the profile dir. */
export const InstallFileSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    template: Type.String({ pattern: '^(templates|scripts)/[A-Za-z0-9._/-]+$' }),
  },
  strict,
);

/**
 * The boot spec. `kernel` and each `initrd` are Liquid strings that render to
 * an http(s) URL or a path inside the profile dir; `cmdline` is Liquid and
 * must render to one line.
 */
export const BootSchema = Type.Object(
  {
    kernel: Type.String({ minLength: 1 }),
    initrd: Type.Array(Type.String({ minLength: 1 })),
    cmdline: Type.String(),
  },
  strict,
);

/**
 * For `kiln-image`: which image to write where. String fields are Liquid
 * except `layout`, which must be one the image writer implements
 * (`imageLayouts` in src/image/install-plan.ts; checked at load time so the
 * message can say what is not built yet). Absent means `single`.
 */
export const ImageSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    url: Type.Optional(Type.String({ minLength: 1 })),
    disk: Type.String({ minLength: 1 }),
    firmware: Type.String({ minLength: 1 }),
    layout: Type.Optional(Type.String({ minLength: 1 })),
    /** With `layout: machine`: the install file (one of `files:`) holding the machine description (Liquid, YAML). */
    machine: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })),
    /**
     * How the writer starts the installed system: `reboot` (default) through the firmware, or `kexec` straight
     * into the installed kernel, falling back to a reboot when kexec cannot load it (docs/images.md, "Hand-off").
     */
    handoff: Type.Optional(Type.Union([Type.Literal('reboot'), Type.Literal('kexec')])),
    /** Boot the image diskless from a squashfs root in RAM, the host's identity on a small `kiln-id` partition (docs/stateless.md). */
    stateless: Type.Optional(Type.Boolean()),
    /**
     * With `layout: ab` (docs/ab-roots.md): boots a new slot gets before GRUB
     * falls back (default 3), and seconds it has to pass its local health
     * check before it reboots itself (default 300).
     */
    ab: Type.Optional(
      Type.Object(
        {
          tries: Type.Optional(Type.Integer({ minimum: 1, maximum: 9 })),
          healthSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 3600 })),
        },
        strict,
      ),
    ),
  },
  strict,
);

/** An apt package name or an apt pattern (apt-patterns(7), e.g. `?priority(required)`), as `apt-get install` takes it. */
const AptPackage = Type.String({ minLength: 1, maxLength: 200, pattern: '^[a-z0-9?~][^\\s]*$' });

/**
 * Where `kiln repo sync` takes this profile's packages from (repo/): the
 * upstream archive, its suite and Debian architecture, and variants resolved
 * one at a time on top of `packages` (packages that conflict, such as grub-pc
 * and grub-efi-amd64, each in its own variant).
 */
export const RepoSchema = Type.Object(
  {
    upstream: Type.Optional(
      Type.String({
        pattern: '^(https?|file):',
        maxLength: 500,
        description: "upstream archive URL; default: the Debian mirror the controller's own apt uses for the suite",
      }),
    ),
    suite: Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 64 }),
    debArch: Type.String({ pattern: '^[a-z0-9]+$', maxLength: 32 }),
    variants: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]*$' }), Type.Array(AptPackage, { maxItems: 200 }), {
        additionalProperties: false,
      }),
    ),
    /** `subset` (default): the closure of `packages`; `full`: every package of the suite (offline development). */
    mode: Type.Optional(Type.Union([Type.Literal('subset'), Type.Literal('full')])),
    /**
     * Suites merged into the resolution (e.g. bookworm-updates, bookworm-security): apt takes the newest version
     * across the suite and these; the subset publishes the result under `suite`.
     */
    extraSuites: Type.Optional(
      Type.Array(
        Type.Object(
          {
            suite: Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 64 }),
            upstream: Type.Optional(
              Type.String({
                pattern: '^(https?|file):',
                maxLength: 500,
                description: "default: the Debian mirror the controller's own apt uses for that suite",
              }),
            ),
          },
          strict,
        ),
        { maxItems: 8 },
      ),
    ),
    /**
     * debian-installer's udebs (main/debian-installer) for the netboot initrd's kernel ABI; default true when the
     * profile installs with `preseed`.
     */
    udebs: Type.Optional(Type.Boolean()),
  },
  strict,
);

/** The schema of `profiles/<name>/profile.yaml`; unknown keys are rejected everywhere. */
export const ProfileSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]*$' }),
    description: Type.String({ minLength: 1 }),
    os: Type.Object({ family: Type.String({ minLength: 1 }), version: Type.String({ minLength: 1 }) }, strict),
    arch: Type.Union([Type.Literal('x86_64'), Type.Literal('aarch64')]),
    install: Type.Object({ method: Type.Union(installMethods.map((m) => Type.Literal(m))) }, strict),
    boot: BootSchema,
    files: Type.Array(InstallFileSchema),
    variables: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_]*$' }), VariableSchema, { additionalProperties: false }),
    ),
    image: Type.Optional(ImageSchema),
    /** The packages this profile installs (apt names or patterns): what `kiln repo sync` puts in the repo subset. */
    packages: Type.Optional(Type.Array(AptPackage, { maxItems: 1000 })),
    repo: Type.Optional(RepoSchema),
    /** Discovery defaults for hosts of this profile (self-tests, after-discovery); a matching rule's own settings win. */
    discovery: Type.Optional(DiscoveryActionsSchema),
  },
  strict,
);

/** A validated `profile.yaml`. */
export type ProfileSpec = Static<typeof ProfileSpecSchema>;
/** A declared variable's value. */
export type VariableValue = Static<typeof VariableValueSchema>;
