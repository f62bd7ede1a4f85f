/** The tenant a single-tenant install runs as; created by the first migration. */
export const DEFAULT_TENANT_ID = '00000000-0000-7000-8000-000000000001';
