/** One-line human summaries of finished uploads. */
import { formatBytes, formatRate, formatSeconds } from './format.js';

/** The facts a summary line shows. */
export interface UploadSummary {
  localPath: string;
  filename: string;
  size: number;
  md5: string;
  seconds: number;
}

/** "sent ./db.dump -> host:7420 db.dump  1.00 GiB in 2.31 s (443 MiB/s)  md5 … verified" */
export function formatUploadSummary(summary: UploadSummary, destination: string): string {
  const rate = summary.seconds > 0 ? summary.size / summary.seconds : 0;
  return `sent ${summary.localPath} -> ${destination} ${summary.filename}  ${formatBytes(summary.size)} in ` +
    `${formatSeconds(summary.seconds)} (${formatRate(rate)})  md5 ${summary.md5} verified`;
}
