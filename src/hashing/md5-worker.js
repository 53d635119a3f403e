// @ts-check
/**
 * One hash thread of md5-pool.ts. Holds md5 states by id and runs, in arrival order:
 *   {op:'open', id, from?}             a fresh md5, or a copy of state `from` (a resume snapshot)
 *   {op:'update', id, seq, buffer, offset, length}   hashes the bytes, replies {seq, bytes}
 *   {op:'frames', id, seq, buffer, offset, length}   the same bytes are whole data frames
 *                                      (uint32 big-endian length, payload; docs/PROTOCOL.md §6.6):
 *                                      hashes the payloads only, replies {seq, bytes}
 *   {op:'digest', id, seq}             replies {seq, digest} and forgets the state
 *   {op:'drop', id}                    forgets the state
 * `buffer` is a SharedArrayBuffer (the very block that is read or written, no copy) or a copied
 * ArrayBuffer. A failure replies {seq, error}. Plain JavaScript so that the same file runs from
 * src/ under vitest and from dist/ (a worker cannot load TypeScript on Node 20).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

// Named so that `top -H` and the bench (/proc/PID/task/*/comm) can tell hash threads apart.
try { writeFileSync('/proc/thread-self/comm', 'ftx-md5'); } catch { /* not Linux: just unnamed */ }

/** @type {Map<number, import('node:crypto').Hash>} */
const states = new Map();

/** @param {number} id */
function state(id) {
  const hash = states.get(id);
  if (!hash) throw new Error(`no md5 state ${id}`);
  return hash;
}

/**
 * Hashes the payloads of the data frames that fill `bytes`; returns the payload bytes.
 * @param {import('node:crypto').Hash} hash
 * @param {Uint8Array} bytes
 */
function hashFrames(hash, bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let payload = 0;
  for (let at = 0; at < bytes.length;) {
    if (at + 4 > bytes.length) throw new Error('a data frame header is cut');
    const length = view.getUint32(at);
    if (at + 4 + length > bytes.length) throw new Error('a data frame is cut');
    hash.update(bytes.subarray(at + 4, at + 4 + length));
    payload += length;
    at += 4 + length;
  }
  return payload;
}

/** @param {{op: string, id: number, seq?: number, from?: number, buffer?: ArrayBufferLike, offset?: number, length?: number}} m */
function handle(m) {
  switch (m.op) {
    case 'open':
      states.set(m.id, m.from === undefined ? createHash('md5') : state(m.from).copy());
      return undefined;
    case 'update':
      state(m.id).update(new Uint8Array(/** @type {ArrayBufferLike} */ (m.buffer), m.offset, m.length));
      return { seq: m.seq, bytes: m.length };
    case 'frames':
      return { seq: m.seq, bytes: hashFrames(state(m.id), new Uint8Array(/** @type {ArrayBufferLike} */ (m.buffer), m.offset, m.length)) };
    case 'digest': {
      const digest = state(m.id).digest('hex');
      states.delete(m.id);
      return { seq: m.seq, digest };
    }
    case 'drop':
      states.delete(m.id);
      return undefined;
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

parentPort?.on('message', (m) => {
  let reply;
  try {
    reply = handle(m);
  } catch (error) {
    reply = m.seq === undefined ? undefined : { seq: m.seq, error: String(/** @type {Error} */ (error).message ?? error) };
  }
  if (reply) parentPort?.postMessage(reply);
});
