import { isUniqueViolation, isUuid, withTenant, type Tx } from '@ampora/db';
import { decodeTimeIdCursor, encodeTimeIdCursor } from '../../http/cursor.js';
import { HttpProblem, problems } from '../../http/problem.js';
import { decideFor, type Principal } from '../../http/principal.js';
import type { ServerContext } from '../../runtime/context.js';
import type { AuditContext } from '../audit/audit-recorder.js';
import {
  closeApproval,
  expireLapsedApprovals,
  getApproval,
  insertApproval,
  listApprovals,
  lockApproval,
  pendingApprovalFor,
  type ApprovalRow,
  type ApprovalStatus,
} from './approvals-queries.js';

export type { ApprovalStatus };

/**
 * Who is asking or deciding (built by {@link ApprovalsService.actor}). `identity` is the person
 * behind the credential; `may` answers for the caller's role and credential, so a kind can require
 * an action of its own on top of the route's rule.
 */
export interface ApprovalActor {
  audit: AuditContext;
  identity: string;
  /** The kinds of caller that have a person behind them; no other kind gets an actor. */
  kind: 'user' | 'pat' | 'system';
  may(action: string): boolean;
}

export interface ApprovalView {
  id: string;
  kind: string;
  entity: { type: string; id: string };
  status: ApprovalStatus;
  summary: Record<string, unknown>;
  requestedBy: { kind: string; id: string; name: string };
  requestedAt: string;
  expiresAt: string;
  decidedBy: { kind: string; id: string; name: string } | null;
  decidedAt: string | null;
  reason: string | null;
}

/**
 * What a module registers for each kind of change it puts behind four eyes. The approvals module
 * never touches the owning module's tables: it calls `apply` and leaves the change to its owner.
 */
export interface ApprovalHandler {
  /** Dotted, like an audit action: `pki.signing-key.activate`. */
  kind: string;
  /** The action the decider must also be allowed, e.g. `pki:keys:approve`. */
  decideAction: string;
  /**
   * Applies the approved change inside the decision's transaction (audit it there too). Throws a
   * 409 problem when the entity can no longer take the change; the request then stays pending.
   */
  apply(tx: Tx, request: ApprovalView, actx: AuditContext): Promise<void>;
  /**
   * Runs after the decision has committed, for work that must not happen inside a transaction
   * (signing, publishing). A failure is logged; the approval stands.
   */
  afterApply?(request: ApprovalView): Promise<void>;
}

export interface NewApprovalRequest {
  kind: string;
  entity: { type: string; id: string };
  /** What the approver is shown: enough to recognise the change, never a secret. */
  summary: Record<string, unknown>;
}

export interface ApprovalListQuery {
  status?: ApprovalStatus;
  kind?: string;
  limit: number;
  cursor?: string;
}

export interface ApprovalsDeps extends Pick<ServerContext, 'db' | 'clock' | 'ids' | 'audit' | 'logger'> {
  /** How long a request stays open for a decision (`approvals.requestTtlHours`). */
  requestTtlHours: number;
  /** The IdP subject of the person behind a user or a PAT (its issuer), from the auth module. */
  subjects: { subjectOf(principal: Principal): Promise<string | undefined> };
}

/** The stable problem of the four-eyes rule. */
function selfDecisionProblem() {
  return new HttpProblem(
    403,
    'self-approval',
    'A second person must decide',
    'the request was made by you (or by a token you issued); another Admin of the tenant must approve or reject it, or you can cancel it',
  );
}

/** The stable problem of a request that nobody decided in time. */
function expiredProblem(expiresAt: Date) {
  return new HttpProblem(
    409,
    'approval-expired',
    'The request has expired',
    `the request expired at ${expiresAt.toISOString()} without a decision; the change it held was not made, and its owner can ask again`,
  );
}

function notRequesterProblem() {
  return new HttpProblem(
    403,
    'not-requester',
    'Only the requester can cancel',
    'a request can be cancelled only by the person who made it; other Admins approve or reject it',
  );
}

type Verb = 'approve' | 'reject' | 'cancel';

/** The status a decision closes its request with. */
const CLOSED_AS = { approve: 'approved', reject: 'rejected', cancel: 'cancelled' } as const;

const HOUR_MS = 3_600_000;

/**
 * True once the request can no longer be decided. A lapsed request is usually still stored as
 * `pending` (only a new request for its entity stores `expired`), so the clock decides.
 */
function hasExpired(r: ApprovalRow, now: Date): boolean {
  return r.status === 'expired' || (r.status === 'pending' && r.expires_at.getTime() <= now.getTime());
}

function viewOf(r: ApprovalRow, now: Date): ApprovalView {
  return {
    id: r.id,
    kind: r.kind,
    entity: { type: r.entity_type, id: r.entity_id },
    status: hasExpired(r, now) ? 'expired' : r.status,
    summary: r.summary,
    requestedBy: { kind: r.requested_by_kind, id: r.requested_by_id, name: r.requested_by_name },
    requestedAt: r.requested_at.toISOString(),
    expiresAt: r.expires_at.toISOString(),
    decidedBy:
      r.decided_by_kind && r.decided_by_id && r.decided_by_name
        ? { kind: r.decided_by_kind, id: r.decided_by_id, name: r.decided_by_name }
        : null,
    decidedAt: r.decided_at?.toISOString() ?? null,
    reason: r.reason,
  };
}

/**
 * Four-eyes approvals: a module asks for one in the transaction that creates the change, a second
 * person of the same tenant approves (the owning module's handler applies the change in the same
 * transaction) or rejects it with a reason, and the requester may cancel it, all before the
 * request expires (`requestTtlHours` after it was made); after that it is only a record. Every
 * request, decision and refused decision is audited in the transaction that makes it.
 */
export function createApprovals(deps: ApprovalsDeps) {
  const { db, clock, ids, audit, logger } = deps;
  const ttlMs = deps.requestTtlHours * HOUR_MS;
  const handlers = new Map<string, ApprovalHandler>();

  /** The request `id` of the actor's tenant, locked until the decision commits; 404 across tenants. */
  async function openRequest(tx: Tx, id: string): Promise<ApprovalRow> {
    const row = await lockApproval(tx, id);
    if (!row) throw problems.notFound('approval request not found');
    return row;
  }

  function assertPending(row: ApprovalRow) {
    if (row.status !== 'pending') throw problems.conflict(`the request is already ${row.status}`);
  }

  function assertMay(actor: ApprovalActor, row: ApprovalRow) {
    const handler = handlers.get(row.kind);
    if (handler && !actor.may(handler.decideAction)) {
      throw problems.forbidden(`deciding this request needs ${handler.decideAction}`);
    }
  }

  /** Records a refused decision; the transaction commits it, and the caller throws afterwards. */
  async function refuse(
    tx: Tx,
    actor: ApprovalActor,
    row: ApprovalRow,
    now: Date,
    verb: string,
    reason: 'self-approval' | 'not-requester' | 'expired',
  ) {
    await audit.record(tx, actor.audit, {
      action: `approval.request.${verb}`,
      entity: { type: 'approval-request', id: row.id },
      before: { status: viewOf(row, now).status },
      after: {
        reason,
        kind: row.kind,
        entity: { type: row.entity_type, id: row.entity_id },
        ...(reason === 'expired' ? { expiresAt: row.expires_at.toISOString() } : {}),
      },
      outcome: 'denied',
    });
  }

  /**
   * Refuses (audited) a decision on a request that expired; the caller throws the returned problem
   * once the refusal has committed. Checked before `assertPending`, so an expired request answers
   * `approval-expired` whether or not its status is stored yet.
   */
  async function refuseIfExpired(tx: Tx, actor: ApprovalActor, row: ApprovalRow, now: Date, verb: string) {
    if (!hasExpired(row, now)) return undefined;
    await refuse(tx, actor, row, now, verb, 'expired');
    return expiredProblem(row.expires_at);
  }

  async function close(
    tx: Tx,
    actor: ApprovalActor,
    row: ApprovalRow,
    now: Date,
    verb: Verb,
    reason: string | null,
  ): Promise<ApprovalView> {
    const status = CLOSED_AS[verb];
    const closed = await closeApproval(tx, row.id, {
      status,
      by: {
        identity: actor.identity,
        kind: actor.kind,
        id: actor.audit.actor.id,
        name: actor.audit.actor.name,
      },
      at: now,
      reason,
    });
    // The row is locked and was pending and unexpired at `now`, so this cannot miss; a miss means
    // the lock was not held.
    if (!closed) throw new Error(`approval request ${row.id} changed under its lock`);
    const view = viewOf(closed, now);
    await audit.record(tx, actor.audit, {
      action: `approval.request.${verb}`,
      entity: { type: 'approval-request', id: row.id },
      before: { status: 'pending' },
      after: {
        status,
        kind: view.kind,
        entity: view.entity,
        requestedBy: view.requestedBy,
        ...(reason !== null ? { reason } : {}),
      },
    });
    return view;
  }

  /**
   * Approving, rejecting and cancelling are one flow in one transaction: anyone but the requester
   * approves or rejects (and needs the kind's action too), only the requester cancels. A refusal
   * is audited and commits before its problem is thrown; work after an approval runs once the
   * approval has committed.
   */
  async function decideOn(
    actor: ApprovalActor,
    id: string,
    verb: Verb,
    reason: string | null,
  ): Promise<ApprovalView> {
    if (!isUuid(id)) throw problems.notFound('approval request not found');
    const trimmed = reason === null ? null : reason.trim();
    if (verb === 'reject' && !trimmed) throw problems.badRequest('a rejection needs a reason');
    const outcome = await withTenant(db, actor.audit.tenantId, async (tx) => {
      const row = await openRequest(tx, id);
      const now = clock.now();
      if (verb !== 'cancel') assertMay(actor, row);
      const expired = await refuseIfExpired(tx, actor, row, now, verb);
      if (expired) return { refused: expired };
      assertPending(row);
      const byRequester = row.requested_by_identity === actor.identity;
      if (verb === 'cancel' && !byRequester) {
        await refuse(tx, actor, row, now, verb, 'not-requester');
        return { refused: notRequesterProblem() };
      }
      if (verb !== 'cancel' && byRequester) {
        await refuse(tx, actor, row, now, verb, 'self-approval');
        return { refused: selfDecisionProblem() };
      }
      let handler: ApprovalHandler | undefined;
      if (verb === 'approve') {
        handler = handlers.get(row.kind);
        if (!handler) throw problems.conflict(`no part of this server applies ${row.kind} requests`);
        await handler.apply(tx, viewOf(row, now), actor.audit);
      }
      return { view: await close(tx, actor, row, now, verb, trimmed), handler };
    });
    if ('refused' in outcome) throw outcome.refused;
    await outcome.handler?.afterApply?.(outcome.view).catch((err: unknown) => {
      logger.error({ err, approvalId: id, kind: outcome.view.kind }, 'work after an approval failed');
    });
    return outcome.view;
  }

  return {
    /** Modules register their kinds when they are built; a kind is registered once. */
    register(handler: ApprovalHandler) {
      if (handlers.has(handler.kind)) throw new Error(`approval kind ${handler.kind} is already registered`);
      handlers.set(handler.kind, handler);
    },

    /**
     * The caller as this service sees it. `identity` is the person behind the credential, which is
     * what four eyes compares: the OIDC `sub` of a user, and for a PAT the `sub` of the user who
     * issued it, so nobody approves their own request with their own token. The local-development
     * principal (no identity provider) is a single identity, so it can request but never approve.
     */
    async actor(
      principal: Principal,
      actx: AuditContext,
      request?: { method: string; path: string },
    ): Promise<ApprovalActor> {
      const unknownPerson = () =>
        problems.forbidden('the person behind this credential cannot be established');
      const { kind } = principal;
      if (kind !== 'user' && kind !== 'pat' && kind !== 'system') throw unknownPerson();
      const sub = kind === 'system' ? undefined : await deps.subjects.subjectOf(principal);
      const identity = kind === 'system' ? `system:${principal.id}` : sub && `oidc:${sub}`;
      if (!identity) throw unknownPerson();
      return { audit: actx, identity, kind, may: (action) => decideFor(principal, action, request).allowed };
    },

    /**
     * Opens a request in the caller's transaction, the one that creates the change, so the change
     * and its request commit together. 409 when one is already pending for the entity. A request
     * for the entity that expired undecided is stored as `expired` first (audited as
     * `approval.request.expire`), in this transaction: the one-pending-per-entity index cannot
     * tell a lapsed request from a live one, since an index predicate cannot read the time, and
     * flipping the lapsed row here is the one place where that matters.
     */
    async request(tx: Tx, actor: ApprovalActor, input: NewApprovalRequest): Promise<ApprovalView> {
      if (!handlers.has(input.kind)) throw new Error(`approval kind ${input.kind} has no handler`);
      const conflict = () =>
        problems.conflict(`an approval request for this ${input.entity.type} is already pending`);
      const now = clock.now();
      // Row-level security limits this to the caller's tenant. Install-wide entities (signing keys)
      // are requested only from the installation's tenant, so no other tenant holds their requests.
      for (const lapsed of await expireLapsedApprovals(tx, input.kind, input.entity.id, now)) {
        await audit.record(tx, actor.audit, {
          action: 'approval.request.expire',
          entity: { type: 'approval-request', id: lapsed.id },
          before: { status: 'pending' },
          after: {
            status: 'expired',
            kind: lapsed.kind,
            entity: { type: lapsed.entity_type, id: lapsed.entity_id },
            expiresAt: lapsed.expires_at.toISOString(),
          },
        });
      }
      if (await pendingApprovalFor(tx, input.kind, input.entity.id, now)) throw conflict();
      let row: ApprovalRow;
      try {
        row = await insertApproval(tx, {
          tenant_id: actor.audit.tenantId,
          id: ids.uuid(),
          kind: input.kind,
          entity_type: input.entity.type,
          entity_id: input.entity.id,
          status: 'pending',
          summary: JSON.stringify(input.summary),
          requested_by_identity: actor.identity,
          requested_by_kind: actor.kind,
          requested_by_id: actor.audit.actor.id,
          requested_by_name: actor.audit.actor.name,
          requested_at: now,
          expires_at: new Date(now.getTime() + ttlMs),
        });
      } catch (err) {
        // A pending request of another tenant (install-wide entities) or a concurrent one.
        if (isUniqueViolation(err)) throw conflict();
        throw err;
      }
      const view = viewOf(row, now);
      await audit.record(tx, actor.audit, {
        action: 'approval.request.create',
        entity: { type: 'approval-request', id: view.id },
        after: {
          status: view.status,
          kind: view.kind,
          entity: view.entity,
          summary: view.summary,
          expiresAt: view.expiresAt,
        },
      });
      return view;
    },

    /**
     * The request for an entity in the caller's transaction's tenant that still waits for a
     * decision, if any; an expired one does not.
     */
    async pendingFor(tx: Tx, kind: string, entityId: string): Promise<ApprovalView | undefined> {
      const now = clock.now();
      const row = await pendingApprovalFor(tx, kind, entityId, now);
      return row ? viewOf(row, now) : undefined;
    },

    async list(tenantId: string, q: ApprovalListQuery) {
      const after = q.cursor === undefined ? undefined : decodeTimeIdCursor(q.cursor);
      const now = clock.now();
      const rows = await withTenant(db, tenantId, (tx) =>
        listApprovals(tx, {
          now,
          limit: q.limit + 1,
          ...(q.status ? { status: q.status } : {}),
          ...(q.kind ? { kind: q.kind } : {}),
          ...(after ? { after } : {}),
        }),
      );
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => viewOf(r, now)),
        nextCursor: rows.length > q.limit && last ? encodeTimeIdCursor(last.requested_at, last.id) : null,
      };
    },

    async get(tenantId: string, id: string): Promise<ApprovalView> {
      const row = isUuid(id) ? await withTenant(db, tenantId, (tx) => getApproval(tx, id)) : undefined;
      if (!row) throw problems.notFound('approval request not found');
      return viewOf(row, clock.now());
    },

    /**
     * A second person approves: the kind's handler applies the change, and the request is closed,
     * in one transaction. The requester (or their PAT) is refused with `self-approval`, and an
     * expired request with `approval-expired`, both audited.
     */
    approve(actor: ApprovalActor, id: string): Promise<ApprovalView> {
      return decideOn(actor, id, 'approve', null);
    },

    /** A second person rejects, with a reason; the change stays a Draft. */
    reject(actor: ApprovalActor, id: string, reason: string): Promise<ApprovalView> {
      return decideOn(actor, id, 'reject', reason);
    },

    /** The requester withdraws the request; the change stays a Draft. */
    cancel(actor: ApprovalActor, id: string): Promise<ApprovalView> {
      return decideOn(actor, id, 'cancel', null);
    },
  };
}

export type ApprovalsService = ReturnType<typeof createApprovals>;
