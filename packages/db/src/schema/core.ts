import type { ColumnType } from 'kysely';

/** A timestamptz column: read as Date, written as Date or ISO string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamptz column filled by its DEFAULT on insert. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  created_at: CreatedAt;
}

export interface CoreTables {
  tenants: TenantsTable;
}
