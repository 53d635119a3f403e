/** What every action handler may use: storage, limits, logging. */
import type { FramedConnection } from '../transport/framed-connection.js';
import type { Request } from '../protocol/messages.js';
import type { AuthThrottle } from './limits/auth-throttle.js';
import type { BodyBudget } from './limits/body-budget.js';
import type { ClientRegistry } from './client-registry.js';
import type { TransferRecord } from './log/transfer-log.js';
import type { Storage } from './storage/storage.js';
import type { TokenSet } from './auth/token-set.js';
import type { ReadRate } from './limits/read-rate.js';
import type { Uploads } from './uploads/uploads.js';

/** Shared, read-only server state handed to each session and action. */
export interface ServerContext {
  /** Where files live (the read side goes straight to it). */
  storage: Storage;
  /** The rules every upload passes, over `storage` (puts, check, mkdir go through it). */
  uploads: Uploads;
  /** When set, clients must prove knowledge of one of them (HMAC over the hello nonce), by token id. */
  tokens?: TokenSet;
  /** True with a tokens file: tokens may lack scopes, and the welcome names the granted ones. */
  scoped: boolean;
  /** Slows down token guessing, per client address. */
  authThrottle: AuthThrottle;
  /** Bodies held in memory until they land, all connections together. */
  bodyBudget: BodyBudget;
  /** Largest upload accepted, announced in the hello. */
  maxSize?: number;
  /** Connections by client id, for the take-over of a dead connection by its own client. */
  clients: ClientRegistry;
  /** Heartbeat interval announced in the hello, ms (0 = none: the idle timeout alone). */
  heartbeatMs: number;
  /** How fast scrubs (`verify`) may read, all together. */
  verifyRate: ReadRate;
  /** Called once per finished or failed transfer. */
  logTransfer: (record: TransferRecord) => void;
}

/**
 * What a handler leaves behind: nothing (it replied), 'close' (the connection can no longer be
 * used), or work still running whose reply comes later (a putmany batch landing) while the session
 * goes on reading the next request.
 */
export type ActionOutcome = 'close' | { background: Promise<void>; /** Body bytes it holds in memory. */ bytes?: number } | void;

/**
 * Handles one request. Refusals before any body byte are thrown as StatusError (the session replies
 * and the connection stays usable).
 */
export type ActionHandler = (conn: FramedConnection, request: Request, context: ServerContext) => Promise<ActionOutcome>;
