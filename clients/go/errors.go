package dlock

import (
	"errors"
	"strconv"
	"strings"
)

// The errors a call returns, to test with errors.Is. A server's error is a
// *ServerError, which is each of these by its code word
// (docs/protocol.md §2).
var (
	ErrHeld           = errors.New("dlock: held by another (HELD)")
	ErrTimeout        = errors.New("dlock: the wait ran out (TIMEOUT)")
	ErrNoSession      = errors.New("dlock: the session has ended (NOSESSION)")
	ErrNotHeld        = errors.New("dlock: not held (NOTHELD)")
	ErrKind           = errors.New("dlock: a name of another kind (KIND)")
	ErrUpgrade        = errors.New("dlock: held shared by this owner (UPGRADE)")
	ErrAuth           = errors.New("dlock: authentication refused")
	ErrLimit          = errors.New("dlock: a limit of the server (LIMIT)")
	ErrLost           = errors.New("dlock: the lock was lost")
	ErrUnavailable    = errors.New("dlock: no server reachable")
	ErrOutcomeUnknown = errors.New("dlock: no answer in time; calling again is safe")
)

// ServerError is a server's error answer.
type ServerError struct {
	Code    string // the first word: HELD, TIMEOUT, NOSESSION, ...
	Message string
}

func (e *ServerError) Error() string { return "dlock: " + e.Message }

var byCode = map[string]error{
	"HELD": ErrHeld, "TIMEOUT": ErrTimeout, "NOSESSION": ErrNoSession, "NOTHELD": ErrNotHeld,
	"KIND": ErrKind, "UPGRADE": ErrUpgrade, "WRONGPASS": ErrAuth, "NOAUTH": ErrAuth,
	"LIMIT": ErrLimit,
}

// Is makes errors.Is(err, ErrHeld) and the others true by the code word.
func (e *ServerError) Is(target error) bool {
	return target != nil && byCode[e.Code] == target
}

// Holder is the session a HELD answer names, or 0.
func (e *ServerError) Holder() uint64 {
	f := strings.Fields(e.Message)
	if e.Code != "HELD" || len(f) < 4 {
		return 0
	}
	n, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
	return n
}

type wrapped struct {
	kind error
	msg  string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Is(target error) bool {
	return target == w.kind || (w.kind == ErrOutcomeUnknown && target == ErrUnavailable)
}
