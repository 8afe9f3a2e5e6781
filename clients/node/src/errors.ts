// The errors of the dlock client. A server's error is a ServerError whose
// code is its first word (docs/protocol.md §2); the others say what the
// client found.

export class DlockError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = "DlockError";
  }
}

/** A server's answer that is an error (HELD, TIMEOUT, NOSESSION, NOTHELD, KIND, ...). */
export class ServerError extends DlockError {
  constructor(message: string) {
    super(`dlock: ${message}`, message.split(" ", 1)[0]);
    this.name = "ServerError";
  }
  /** The session a HELD answer names, or 0. */
  get holder(): number {
    const w = this.message.split(" ");
    return this.code === "HELD" ? Number(w[w.length - 1]) || 0 : 0;
  }
}

/** No server reached in time (code UNAVAILABLE), or a write sent and not answered (OUTCOME_UNKNOWN: calling again is safe). */
export class UnavailableError extends DlockError {
  constructor(message: string, code = "UNAVAILABLE") {
    super(message, code);
    this.name = "UnavailableError";
  }
}

/** The lock can no longer be proven held: stop the work it protects. */
export class LockLostError extends DlockError {
  constructor(message: string) {
    super(message, "LOST");
    this.name = "LockLostError";
  }
}
