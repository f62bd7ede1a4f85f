import type { Timestamp } from './core.js';

export interface KeyProtectionStateTable {
  id: number;
  canary: string;
  key_id: string;
  updated_at: Timestamp;
}

export interface KeyTables {
  key_protection_state: KeyProtectionStateTable;
}
