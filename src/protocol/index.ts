/** Protocol v1: wire constants, frame codec, message shapes, authentication proof. No I/O. */
export * from './constants.js';
export * from './frame.js';
export * from './messages.js';
export * from './auth.js';
export * from './token-keys.js';
export * from './read-requests.js';
export * from './read-replies.js';
export * from './scopes.js';
