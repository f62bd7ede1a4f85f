import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { principalOf } from '../../http/principal.js';
import { requestAuditContext } from '../audit/audit-recorder.js';
import {
  ApprovalList,
  ApprovalParams,
  ApprovalRequest,
  ListApprovalsQuery,
  RejectBody,
} from './approvals-schemas.js';
import type { ApprovalActor, ApprovalsService } from './approvals-service.js';

/**
 * The caller of a request as the approvals service sees it. Also used by the routes of modules
 * that open approval requests (rotating a signing key).
 */
export function approvalActor(
  approvals: Pick<ApprovalsService, 'actor'>,
  request: FastifyRequest,
): Promise<ApprovalActor> {
  const principal = principalOf(request);
  return approvals.actor(principal, requestAuditContext(request, principal), {
    method: request.method,
    path: request.url,
  });
}

const SELF_APPROVAL =
  'A request cannot be decided by the identity that made it (compared by OIDC subject; a PAT counts as the user who issued it): 403 `self-approval`.';

const EXPIRED =
  'After its `expiresAt` a request can no longer be decided: 409 `approval-expired`, audited as a refused decision.';

/** The four-eyes queue of the caller's tenant. Requests are opened by the modules that own the change. */
export function approvalsRoutes(approvals: ApprovalsService) {
  return async function routes(fastify: FastifyInstance) {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.get(
      '/api/approvals',
      {
        config: { access: { action: 'approvals:read' } },
        schema: {
          tags: ['approvals'],
          summary: "List the tenant's approval requests, newest first",
          description:
            '`status=pending` lists the requests still open for a decision; `status=expired` those that reached `expiresAt` undecided.',
          querystring: ListApprovalsQuery,
          response: { 200: ApprovalList },
        },
      },
      async (request) => approvals.list(principalOf(request).tenantId, request.query),
    );

    app.get(
      '/api/approvals/:id',
      {
        config: { access: { action: 'approvals:read' } },
        schema: {
          tags: ['approvals'],
          summary: 'Get an approval request',
          params: ApprovalParams,
          response: { 200: ApprovalRequest },
        },
      },
      async (request) => approvals.get(principalOf(request).tenantId, request.params.id),
    );

    app.post(
      '/api/approvals/:id/approve',
      {
        config: { access: { action: 'approvals:decide' } },
        schema: {
          tags: ['approvals'],
          summary: 'Approve a pending request: the change it holds is applied now',
          description: `${SELF_APPROVAL} ${EXPIRED} 409 when the request is no longer pending, or when its entity can no longer take the change.`,
          params: ApprovalParams,
          response: { 200: ApprovalRequest },
        },
      },
      async (request) => approvals.approve(await approvalActor(approvals, request), request.params.id),
    );

    app.post(
      '/api/approvals/:id/reject',
      {
        config: { access: { action: 'approvals:decide' } },
        schema: {
          tags: ['approvals'],
          summary: 'Reject a pending request with a reason; the change stays a Draft',
          description: `${SELF_APPROVAL} ${EXPIRED} 409 when the request is no longer pending.`,
          params: ApprovalParams,
          body: RejectBody,
          response: { 200: ApprovalRequest },
        },
      },
      async (request) =>
        approvals.reject(await approvalActor(approvals, request), request.params.id, request.body.reason),
    );

    app.post(
      '/api/approvals/:id/cancel',
      {
        config: { access: { action: 'approvals:cancel' } },
        schema: {
          tags: ['approvals'],
          summary: 'Withdraw your own pending request; the change stays a Draft',
          description: `Only the identity that made the request may cancel it (403 \`not-requester\`). ${EXPIRED} 409 when it is no longer pending.`,
          params: ApprovalParams,
          response: { 200: ApprovalRequest },
        },
      },
      async (request) => approvals.cancel(await approvalActor(approvals, request), request.params.id),
    );
  };
}
