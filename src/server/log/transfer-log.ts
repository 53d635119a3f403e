/** One line per finished or failed transfer, for the server's stderr. */

/** The facts of one transfer. */
export interface TransferRecord {
  peer: string;
  action: string;
  filename: string;
  bytes: number;
  ms: number;
  md5?: string;
  /** Where the body started (a resume), when not 0. */
  offset?: number;
  note?: string;
  error?: { status: number; code: string; message: string };
}

/** Formats a record as one line: time, peer, action, file, bytes, duration, rate, md5 or error. */
export function formatTransferRecord(record: TransferRecord, now = new Date()): string {
  const seconds = record.ms / 1000;
  const rate = seconds > 0 ? record.bytes / seconds / 1e6 : 0;
  const head = `${now.toISOString()} ${record.peer} ${record.action} ${JSON.stringify(record.filename)}`;
  const figures = `${record.bytes} B ${seconds.toFixed(3)} s ${rate.toFixed(1)} MB/s`;
  const resumed = record.offset ? ` resumed@${record.offset}` : '';
  const note = record.note ? ` (${record.note})` : '';
  const outcome = record.error
    ? `FAILED ${record.error.status} ${record.error.code}: ${record.error.message}`
    : `ok md5=${record.md5 ?? ''}`;
  return `${head} ${figures}${resumed} ${outcome}${note}`;
}
