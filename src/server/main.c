/* main.c - dlockd: the dlock server. `dlockd --help` lists the options; with
 * none it is one server on 127.0.0.1:7411 with its data in ./dlock-data. */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/map.h"
#include "server/config.h"
#include "server/join.h"
#include "server/logger.h"
#include "server/resetterm.h"
#include "server/server.h"
#include "server/watch.h"

int main(int argc, char **argv)
{
    static struct config cfg;
    static struct server srv;
    char err[512];
#ifdef __GLIBC__
    /* No fastbins: glibc keeps small freed chunks there unmerged until a
     * large request merges them all at once, and dropping a snapshot's
     * log (100,000 entries) then held the loop 5-6 ms in that merge
     * (docs/design.md §7). Freed chunks are merged as they are freed. */
    mallopt(M_MXFAST, 0);
#endif
    int rc = config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "dlockd: %s\n", err);
        return rc < 0 ? 2 : 0;
    }
    logger_init(cfg.log_level, cfg.id);
    logger_set_json(cfg.log_json);
    /* Names hash under a secret key, so that names crafted to collide
     * cannot slow the server's maps (src/common/map.h). */
    uint8_t key[16];
    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key) {
        fprintf(stderr, "dlockd: getrandom: %s\n", strerror(errno));
        return 1;
    }
    map_hash_set_key(key);
    if (cfg.reset_term) {
        rc = resetterm_run(&cfg, err, sizeof err);
        if (rc != 0)
            log_error("%s", err);
        else
            log_info("%s", err);
        return rc != 0;
    }
    uv_loop_t *loop = uv_default_loop();
    turn_configure(loop);
    if (server_start(&srv, loop, &cfg, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    if (cfg.join[0] != '\0')
        join_start(loop, &cfg);
    uv_run(loop, UV_RUN_DEFAULT);
    join_stop();
    node_free(srv.node);
    watch_hub_free(srv.watch);
    uv_loop_close(loop);
    return srv.exit_code;
}
