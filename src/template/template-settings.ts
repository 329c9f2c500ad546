import { Type } from '@sinclair/typebox';

/** Top-level settings of template rendering (the render worker's limits). */
export const TemplateSettingsSchema = Type.Object({
  'template-timeout-ms': Type.Integer({
    default: 2000,
    minimum: 100,
    maximum: 600000,
    description:
      "Wall-clock limit, in ms, on rendering one deploy's templates; past it (plus 250 ms) the render worker is killed and the deploy fails with template_error.",
  }),
  'template-max-output-kib': Type.Integer({
    default: 4096,
    minimum: 16,
    maximum: 1048576,
    description:
      "Most text, in KiB, one deploy's templates may render (all install files together); past it the render stops with template_error.",
  }),
});
