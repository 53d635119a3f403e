/** ftx's public API: the server, the client, the protocol and the errors. */
export * from './errors.js';
export * from './protocol/index.js';
export { FtxClient, type ClientOptions, type PutOptions, type PutReceipt } from './client/client.js';
export { parseDestination, type Destination } from './client/address.js';
export { startServer, type RunningServer, type ServerOptions } from './server/server.js';
export type {
  BeginResult, ByteRange, CheckQuery, CheckResult, ListEntry, ListOptions, ListPage, SourceIdentity, Storage, StoredFile,
  StoredReceipt, Upload, UploadTarget,
} from './server/storage/storage.js';
export { DiskStorage, type DiskStorageOptions } from './server/storage/disk/disk-storage.js';
export { md5File } from './checksum.js';
export { FTX_VERSION } from './version.js';
