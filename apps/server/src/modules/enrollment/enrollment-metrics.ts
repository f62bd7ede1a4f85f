import { Counter, type Registry } from 'prom-client';

export interface EnrollmentMetrics {
  /** Rows the sweep deleted, by kind: `expired_token` or `redemption`. */
  swept: Counter<'kind'>;
}

export function createEnrollmentMetrics(registry: Registry): EnrollmentMetrics {
  return {
    swept: new Counter({
      name: 'ampora_enrollment_swept_total',
      help: 'Expired bootstrap tokens and old redemption records deleted by the enrollment sweep, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}
