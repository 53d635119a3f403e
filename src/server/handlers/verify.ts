/**
 * The `verify` action (docs/PROTOCOL.md §6.13): a scrub of a file or a tree, its results sent in
 * `verified` frames of at most 100 (at least once a second while there are any), progress in
 * `wait` frames at most once a second, the totals in the final reply.
 */
import { STATUS } from '../../protocol/constants.js';
import type { VerifyResult } from '../../protocol/read-replies.js';
import { parseVerifyRequest } from '../../protocol/read-requests.js';
import type { ActionHandler } from '../context.js';
import { scrub } from '../scrub.js';
import { splitSafeFilename } from '../uploads/names.js';

const MAX_RESULTS_PER_FRAME = 100;
const FLUSH_MS = 1000;

export const handleVerify: ActionHandler = async (conn, frame, context) => {
  const request = parseVerifyRequest(frame);
  if (request.path !== '') splitSafeFilename(request.path);
  let batch: VerifyResult[] = [];
  let flushedAt = Date.now();
  let waitedAt = Date.now();
  const flush = (): void => {
    if (batch.length === 0) return;
    conn.send({ type: 'verified', id: request.id, results: batch });
    batch = [];
    flushedAt = Date.now();
  };
  const summary = await scrub(context.storage, request.path, context.verifyRate, {
    result: (result) => {
      batch.push(result);
      if (batch.length >= MAX_RESULTS_PER_FRAME || Date.now() - flushedAt >= FLUSH_MS) flush();
    },
    progress: (bytes) => {
      const now = Date.now();
      if (now - flushedAt >= FLUSH_MS) flush();
      if (now - waitedAt < FLUSH_MS) return;
      waitedAt = now;
      conn.send({ type: 'wait', id: request.id, message: 'verifying', done: bytes });
    },
  });
  flush();
  const bad = summary.corrupt + summary.missing;
  conn.send({
    type: 'reply', id: request.id, status: STATUS.OK, code: 'ok',
    message: `${summary.files} files: ${summary.ok} ok, ${summary.corrupt} corrupt, ${summary.missing} missing, ${summary.unrecorded} unrecorded${bad > 0 ? '' : ''}`,
    summary,
  });
};
