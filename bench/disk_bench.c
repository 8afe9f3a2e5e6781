/* disk_bench.c - what one small durable log write costs on this disk, the
 * way dlockd's store makes it (src/store/store.c), in two ways side by side:
 *
 *   grow   append to a file that grows, then fdatasync: the size changes,
 *          so each sync also commits the file system's journal
 *   spare  overwrite a file written ahead in zeros and synced (a spare
 *          segment), then fdatasync: only the data is written
 *
 * Each round writes --count records of --size bytes in each way (the order
 * alternating from round to round) and reports the wall time and the CPU
 * time (user and system, this process) per sync; the last line gives the
 * median over the rounds of each and their ratio.
 *
 *   disk-bench [--dir DIR] [--count N] [--size BYTES] [--rounds R]
 *
 * DIR defaults to the current directory: run it where the data directory
 * will be. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 99

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "disk-bench: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* One way, count records of size bytes: microseconds per sync, wall and CPU. */
static void run(const char *path, int spare, long count, size_t size,
                double *wall_us, double *cpu_us)
{
    static char zeros[1 << 16];
    char *rec = malloc(size);
    if (rec == NULL)
        die("malloc for", path);
    memset(rec, 0x5a, size);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    if (spare) {
        uint64_t total = (uint64_t)count * size;
        for (uint64_t off = 0; off < total;) {
            size_t n = total - off < sizeof zeros ? (size_t)(total - off)
                                                  : sizeof zeros;
            ssize_t w = pwrite(fd, zeros, n, (off_t)off);
            if (w <= 0)
                die("write zeros to", path);
            off += (uint64_t)w;
        }
        if (fdatasync(fd) < 0)
            die("fdatasync", path);
    }
    double w0 = wall_now(), c0 = cpu_now();
    for (long i = 0; i < count; i++) {
        if (write(fd, rec, size) != (ssize_t)size)
            die("write", path);
        if (fdatasync(fd) < 0)
            die("fdatasync", path);
    }
    *wall_us = (wall_now() - w0) / (double)count * 1e6;
    *cpu_us = (cpu_now() - c0) / (double)count * 1e6;
    close(fd);
    unlink(path);
    free(rec);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long arg_long(const char *name, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "disk-bench: %s must be %ld to %ld\n", name, lo, hi);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv)
{
    const char *dir = ".";
    long count = 3000, size = 200, rounds = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v != NULL && strcmp(a, "--dir") == 0)
            dir = v;
        else if (v != NULL && strcmp(a, "--count") == 0)
            count = arg_long(a, v, 1, 10000000);
        else if (v != NULL && strcmp(a, "--size") == 0)
            size = arg_long(a, v, 1, 1 << 20);
        else if (v != NULL && strcmp(a, "--rounds") == 0)
            rounds = arg_long(a, v, 1, MAX_ROUNDS);
        else {
            fprintf(stderr, "usage: disk-bench [--dir DIR] [--count N] "
                            "[--size BYTES] [--rounds R]\n");
            return 2;
        }
        i++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/disk-bench.%ld.tmp", dir, (long)getpid());
    double w[2][MAX_ROUNDS], c[2][MAX_ROUNDS];
    const char *names[2] = {"grow", "spare"};
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int way = (k + r) % 2;
            run(path, way, count, (size_t)size, &w[way][r], &c[way][r]);
            printf("round %d %-5s %8.1f us/sync wall %8.1f us/sync cpu\n",
                   r + 1, names[way], w[way][r], c[way][r]);
        }
    }
    double mw[2], mc[2];
    for (int way = 0; way < 2; way++) {
        mw[way] = median(w[way], (int)rounds);
        mc[way] = median(c[way], (int)rounds);
    }
    printf("median of %ld rounds, %ld syncs of %ld bytes: grow %.1f us wall "
           "%.1f us cpu; spare %.1f us wall %.1f us cpu; spare/grow %.2f "
           "wall %.2f cpu\n",
           rounds, count, size, mw[0], mc[0], mw[1], mc[1], mw[1] / mw[0],
           mc[1] / mc[0]);
    return 0;
}
