import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { DoctorReport } from './doctor.js';

const Status = Type.Union([Type.Literal('ok'), Type.Literal('warn'), Type.Literal('fail')]);

const ReportReply = Type.Object({
  status: Status,
  at: Type.String(),
  checks: Type.Array(
    Type.Object({
      name: Type.String(),
      status: Status,
      detail: Type.String(),
      fix: Type.Optional(Type.String()),
      ms: Type.Number(),
    }),
  ),
});

/** GET /api/v1/health/details: runs every self-check now and answers the report (viewer; 200 whatever the status). */
export const doctorRoutes: FastifyPluginAsyncTypebox<{ run: () => Promise<DoctorReport> }> = async (app, { run }) => {
  app.get(
    '/health/details',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['health'],
        summary: "The controller's self-check: each check's status, what it saw and its fix",
        response: { 200: ReportReply },
      },
    },
    async () => run(),
  );
};
