import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { KeyProtector } from '@ampora/keys';
import type { Clock, Database, IdSource } from '@ampora/db';
import type { Config } from '../config/index.js';
import type { AgentHub } from '../gateway/agent-hub.js';
import type { AuthenticateAgent } from '../gateway/opamp-listener.js';
import type { AccessControl } from '../http/route-access.js';
import type { AuditRecorder } from '../modules/audit/audit-recorder.js';
import type { Logger } from '../observability/logger.js';

/** The shared infrastructure every module is built from. */
export interface ServerContext {
  config: Config;
  logger: Logger;
  /** App-role pool: RLS applies. */
  db: Database;
  /** Owner connection string, for jobs that must read across tenants (audit verification). */
  ownerUrl: string;
  clock: Clock;
  ids: IdSource;
  metrics: Registry;
  keys: KeyProtector;
  audit: AuditRecorder;
  hub: AgentHub;
  /** The OpAMP listener's port once it listens (0 in the config means "any"). */
  opampPort(): number;
  /** The HTTP listener's port once it listens. */
  httpPort(): number;
}

/**
 * One domain module as the composition root sees it. Everything is optional: a module may only
 * serve routes, only run a job, or also take over one of the listener hooks.
 */
export interface ServerModule {
  name: string;
  /** An encapsulated Fastify plugin with the module's REST routes. */
  routes?: (app: FastifyInstance) => Promise<void>;
  /** Starts background work after the listeners are up. */
  start?: () => Promise<void> | void;
  /** Stops background work; called before the database closes. */
  stop?: () => Promise<void> | void;
  /** Authentication and authorization for the REST API. */
  accessControl?: AccessControl;
  /** Admission of agents to the OpAMP endpoint. */
  authenticateAgent?: AuthenticateAgent;
  /** Supplies the OpAMP listener's server (for TLS); plain HTTP otherwise. */
  opampServer?: () => Promise<Server>;
}
