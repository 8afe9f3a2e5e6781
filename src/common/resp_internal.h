/* resp_internal.h - what the files of the RESP codec (resp.c, the reader,
 * and resp_write.c) share and nothing else uses. */
#ifndef DLOCK_RESP_INTERNAL_H
#define DLOCK_RESP_INTERNAL_H

#include <locale.h>

/* The C locale, for uselocale() around strtod and snprintf: RESP doubles
 * are "1.5" whatever locale the program using libdlock has set. (locale_t 0,
 * meaning "leave the locale alone", if it cannot be had.) */
locale_t resp_c_locale(void);

#endif
