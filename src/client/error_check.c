/* error_check.c - checks at compile time that the error codes of
 * src/common/error.h, which the RESP codec and the buffers return and the
 * library passes on to its callers, have the values include/dlock.h
 * publishes for them. The two headers name the same constants, so dlock.h's
 * are renamed here before it is included. A code added to error.h is added
 * to both lists below. */
#define DLOCK_OK PUBLIC_OK
#define DLOCK_ENOMEM PUBLIC_ENOMEM
#define DLOCK_EPROTO PUBLIC_EPROTO
#define DLOCK_EINVAL PUBLIC_EINVAL
#define DLOCK_ELIMIT PUBLIC_ELIMIT
#define DLOCK_EIO PUBLIC_EIO
#define DLOCK_ETIMEDOUT PUBLIC_ETIMEDOUT
#include "dlock.h"
#undef DLOCK_OK
#undef DLOCK_ENOMEM
#undef DLOCK_EPROTO
#undef DLOCK_EINVAL
#undef DLOCK_ELIMIT
#undef DLOCK_EIO
#undef DLOCK_ETIMEDOUT

#include "common/error.h"

#define SAME(name)                                                             \
    _Static_assert((int)DLOCK_##name == (int)PUBLIC_##name,                    \
                   "DLOCK_" #name " differs in include/dlock.h")

SAME(OK);
SAME(ENOMEM);
SAME(EPROTO);
SAME(EINVAL);
SAME(ELIMIT);
SAME(EIO);
SAME(ETIMEDOUT);
