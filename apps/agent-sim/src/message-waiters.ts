/**
 * Callers waiting for a ServerToAgent that matches: the reply a WebSocket
 * message is paired with, or whatever a test waits for.
 */
import type { ServerToAgent } from '@ampora/opamp';

type Waiter = {
  match: (m: ServerToAgent) => boolean;
  resolve: (m: ServerToAgent) => void;
  reject: (e: Error) => void;
};

export interface MessageWaiters {
  /** Resolves with the next delivered message that matches; rejects once `timeoutMs` has passed. */
  wait(match: (m: ServerToAgent) => boolean, timeoutMs: number): Promise<ServerToAgent>;
  /** Hands a received message to every waiter it matches. */
  deliver(msg: ServerToAgent): void;
  /** Fails every waiter: the connection that would have answered them is gone. */
  rejectAll(err: Error): void;
}

export function createMessageWaiters(): MessageWaiters {
  const waiters = new Set<Waiter>();
  return {
    wait(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          match,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error('timed out waiting for a ServerToAgent'));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    deliver(msg) {
      for (const w of waiters) {
        if (w.match(msg)) {
          waiters.delete(w);
          w.resolve(msg);
        }
      }
    },
    rejectAll(err) {
      for (const w of waiters) w.reject(err);
      waiters.clear();
    },
  };
}
