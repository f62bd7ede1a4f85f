/**
 * The hash of an agent config map. The server stores it as an agent's effective config hash and
 * the simulator reports it as its own, so both must compute it the same way.
 */
import { createHash } from 'node:crypto';
import type { AgentConfigMap } from './gen/opamp_pb';

/** SHA-256 (hex) over the files in name order: the same files always give the same hash. */
export function configMapHash(map: AgentConfigMap | undefined): string {
  const h = createHash('sha256');
  const files = map?.configMap ?? {};
  for (const name of Object.keys(files).sort()) {
    const f = files[name]!;
    // Lengths are in UTF-16 code units, as stored hashes have always been computed.
    h.update(`${name.length}:${name}${f.contentType.length}:${f.contentType}${f.body.length}:`);
    h.update(f.body);
  }
  return h.digest('hex');
}
