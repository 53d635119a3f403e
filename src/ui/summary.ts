/** One-line human summaries of finished uploads. */
import { formatBytes, formatRate, formatSeconds } from './format.js';

/** The facts a summary line shows. */
export interface UploadSummary {
  localPath: string;
  filename: string;
  size: number;
  md5: string;
  seconds: number;
  /** Where this upload continued a kept partial (0 = sent whole). */
  resumedFrom?: number;
}

/** "sent ./db.dump -> host:7420 db.dump  1.00 GiB in 2.31 s (443 MiB/s)  md5 … verified" */
export function formatUploadSummary(summary: UploadSummary, destination: string): string {
  const sent = summary.size - (summary.resumedFrom ?? 0);
  const rate = summary.seconds > 0 ? sent / summary.seconds : 0;
  const resumed = summary.resumedFrom ? ` (resumed at ${summary.resumedFrom} B, sent ${formatBytes(sent)})` : '';
  return `sent ${summary.localPath} -> ${destination} ${summary.filename}  ${formatBytes(summary.size)} in ` +
    `${formatSeconds(summary.seconds)} (${formatRate(rate)})${resumed}  md5 ${summary.md5} verified`;
}
