/* failio.c - a preloaded library (LD_PRELOAD) that makes fsync and
 * fdatasync fail with EIO while the file named by $DLOCK_FAILIO_FILE
 * exists: the fault campaign's "fsync fails" on a real dlockd, whatever
 * the file system; and, with $DLOCK_FAILIO_DELAY_US, makes each of them
 * take that much longer (a slow disk). Without the variables, or while the
 * file is absent, the calls go to the C library unchanged.
 *
 *   cc -shared -fPIC failio.c -o faults-failio.so -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void)
{
    const char *path = getenv("DLOCK_FAILIO_FILE");
    const char *delay = getenv("DLOCK_FAILIO_DELAY_US");
    if (delay != NULL)
        usleep((useconds_t)strtoul(delay, NULL, 10));
    return path != NULL && access(path, F_OK) == 0;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (failing()) {
        errno = EIO;
        return -1;
    }
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (failing()) {
        errno = EIO;
        return -1;
    }
    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
