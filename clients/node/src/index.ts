// dlock: a client of the dlock lock service for Node.js, with no runtime
// dependency. See README.md, and docs/protocol.md for the commands it speaks.
export { Client, ClientOptions, CallOptions, LeaderState } from "./client";
export { Session, safeUntil, DRIFT_PPM, SAFETY_MS } from "./session";
export { Hold, Lock, Permits, Leadership } from "./handles";
export { Watch, Change } from "./watch";
export { DlockError, ServerError, UnavailableError, LockLostError } from "./errors";
