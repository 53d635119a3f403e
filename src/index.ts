/** ftx's public API: the server, the client, the protocol and the errors. */
export * from './errors.js';
export * from './protocol/index.js';
export {
  FtxClient, type CheckAnswer, type ClientOptions, type FtxClientOptions, type PutOptions, type PutReceipt, type RetryNotice,
  type RetryPolicy, type SmallFile, type SmallFileHandlers, type SmallFileResult, type StreamPutOptions,
  type FdInput, type StreamInput,
} from './client/client.js';
export { DEFAULT_RETRY_POLICY, NO_RETRIES } from './client/retry.js';
export * from './client/defaults.js';
export * from './server/defaults.js';
export { parseDestination, type Destination } from './client/address.js';
export { startServer, type RunningServer, type ServerOptions } from './server/server.js';
export type {
  ByteRange, CheckResult, ListEntry, ListOptions, ListPage, SourceIdentity, Storage, StoredFile,
  StoredReceipt, Upload, UploadRequest,
} from './server/storage/storage.js';
export type { BeginResult, UploadTarget } from './server/uploads/uploads.js';
export { DiskStorage } from './server/storage/disk/disk-storage.js';
export { md5File } from './checksum.js';
export { FTX_VERSION } from './version.js';
