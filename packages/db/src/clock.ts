import { v7 as uuidv7 } from 'uuid';

/** Time source. Injected everywhere so expiries, leases and retention can be tested without sleeping. */
export interface Clock {
  now(): Date;
}

/** Id source. Ids are UUIDv7 so that they sort by creation time. */
export interface IdSource {
  uuid(): string;
}

export const systemClock: Clock = { now: () => new Date() };

export const uuidv7Ids: IdSource = { uuid: () => uuidv7() };

/** A clock that only moves when told to; for tests. */
export function manualClock(start: Date): Clock & { advance(ms: number): void; set(d: Date): void } {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advance: (ms) => {
      t += ms;
    },
    set: (d) => {
      t = d.getTime();
    },
  };
}
