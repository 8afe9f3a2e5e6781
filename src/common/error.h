/* error.h - the error codes shared by the server and the client library.
 * include/dlock.h publishes the same values for libdlock's callers
 * (src/client/error_check.c checks them at compile time). A function that
 * can fail returns 0 or one of these (negative). */
#ifndef DLOCK_ERROR_H
#define DLOCK_ERROR_H

enum {
    DLOCK_OK = 0,
    DLOCK_ENOMEM = -1,   /* out of memory */
    DLOCK_EPROTO = -2,   /* the peer broke the protocol */
    DLOCK_EINVAL = -3,   /* bad argument */
    DLOCK_ELIMIT = -4,   /* a size or count limit */
    DLOCK_EIO = -5,      /* a system call failed */
    DLOCK_ETIMEDOUT = -6 /* no answer in time */
};

#endif
