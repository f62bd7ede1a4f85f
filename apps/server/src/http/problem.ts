import type { FastifyError, FastifyInstance } from 'fastify';

/**
 * An error that becomes an `application/problem+json` response. `type` is a stable slug that clients
 * may branch on; `detail` is written for people and never carries internals.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    readonly detail?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(title);
  }
}

export const problems = {
  badRequest: (detail?: string) => new HttpProblem(400, 'bad-request', 'Bad request', detail),
  unauthorized: (detail?: string) =>
    new HttpProblem(401, 'unauthorized', 'Authentication required', detail, { 'www-authenticate': 'Bearer' }),
  forbidden: (detail?: string) => new HttpProblem(403, 'forbidden', 'Not allowed', detail),
  notFound: (detail?: string) => new HttpProblem(404, 'not-found', 'Not found', detail),
  conflict: (detail?: string) => new HttpProblem(409, 'conflict', 'Conflict', detail),
  tooLarge: () => new HttpProblem(413, 'payload-too-large', 'Request body too large'),
  tooManyRequests: (retryAfterSeconds: number) =>
    new HttpProblem(429, 'rate-limited', 'Too many requests', undefined, {
      'retry-after': String(retryAfterSeconds),
    }),
  unavailable: (retryAfterSeconds: number, detail?: string) =>
    new HttpProblem(503, 'unavailable', 'Service unavailable', detail, {
      'retry-after': String(retryAfterSeconds),
    }),
};

const PROBLEM_BASE = 'https://ampora.dev/problems/';

export function problemBody(p: HttpProblem, instance?: string) {
  return {
    type: PROBLEM_BASE + p.type,
    title: p.title,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    ...(instance ? { instance } : {}),
  };
}

/**
 * Maps every error to problem+json. Validation errors say which field failed; anything unexpected
 * is logged with its stack and answered with a bare 500, so no SQL, stack or host name leaks.
 */
export function installProblemHandlers(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError | HttpProblem, request, reply) => {
    let problem: HttpProblem;
    if (error instanceof HttpProblem) {
      problem = error;
    } else if ((error as FastifyError).validation) {
      const v = (error as FastifyError).validation![0];
      const where = `${(error as FastifyError).validationContext ?? 'request'}${v?.instancePath ?? ''}`;
      problem = problems.badRequest(`${where} ${v?.message ?? 'is invalid'}`.trim());
    } else if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      problem = problems.tooLarge();
    } else if ((error as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      problem = new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type');
    } else if (
      (error as FastifyError).code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      (error as FastifyError).code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
    ) {
      problem = problems.badRequest('body is not valid JSON');
    } else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500) {
      problem = new HttpProblem((error as FastifyError).statusCode!, 'bad-request', 'Bad request');
    } else {
      request.log.error({ err: error }, 'unhandled error');
      problem = new HttpProblem(500, 'internal', 'Internal error');
    }
    if (problem.status >= 400 && problem.status < 500) {
      request.log.info({ status: problem.status, type: problem.type }, 'request refused');
    }
    void reply
      .code(problem.status)
      .headers(problem.headers)
      .type('application/problem+json')
      .send(problemBody(problem, request.id));
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).type('application/problem+json').send(problemBody(problems.notFound(), request.id));
  });
}
