/* showkind.c - dlock sem-status and dlock leader: reading a semaphore and an
 * election, for people and (--json) for scripts. */
#include <string.h>

#include "cli/cli.h"

const char show_sem_status_usage[] =
    "usage: dlock sem-status NAME\n"
    "\n"
    "Shows the semaphore NAME as the leader has it now: its permits (0 for\n"
    "a name not known: nobody holds or waits for it), those used, those\n"
    "held back for an expired holder's lock-delay, those available, its\n"
    "holders and waiters, and the lock-delay left. With --json:\n"
    "{\"ok\":true,\"name\":...,\"permits\":N,\"used\":N,\"expired\":N,\n"
    "\"available\":N,\"holders\":N,\"waiters\":N,\"delay_left_ms\":N}.\n"
    "`dlock holders NAME` lists the holders (shared: the permits each\n"
    "holds). Exit codes: 0, 64 usage (or NAME is a lock or an election),\n"
    "69 cluster unavailable.\n";

const char show_leader_usage[] =
    "usage: dlock leader NAME [--watch [--count N]]\n"
    "\n"
    "Shows the leader of the election NAME as the leader of the cluster has\n"
    "it now (a linearizable read): its session and owner, its leadership\n"
    "token, its value, the candidates waiting and the lease its session\n"
    "has left; or that there is no leader (nobody campaigns, or the last\n"
    "leader's session expired and its lock-delay is not over). With --json:\n"
    "{\"ok\":true,\"name\":...,\"leader\":N,\"owner\":...,\"token\":N,\n"
    "\"value\":...,\"candidates\":N,\"lease_left_ms\":N} (leader 0: none).\n"
    "\n"
    "With --watch it prints the leader now, then the leader after each\n"
    "revision that changes it or its value, one line each, with the\n"
    "revision: \"REV leader session N owner O token N value V\" or\n"
    "\"REV no leader\" (a handover is one line, of the next leader);\n"
    "with --json, one object a line: {\"revision\":N,\"name\":...,\n"
    "\"leader\":N,\"owner\":...,\"token\":N,\"value\":...}. It ends\n"
    "after --count N lines, or on SIGINT or SIGTERM, with exit 0.\n"
    "Exit codes: 0 (a leader or none), 64 usage (or NAME is a lock or a\n"
    "semaphore), 69 cluster unavailable.\n";

int show_sem_status_main(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    struct dlock_client *c;
    int rc =
        show_scan(cli, argc, argv, show_sem_status_usage, &name, 1, 1, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    struct dlock_sem_status st;
    int err = dlock_sem_status(c, name, &st);
    if (err != 0) {
        rc = report_failure(cli, c, err, name);
    } else if (cli->json) {
        struct json j;
        report_json_ok(&j);
        json_str(&j, "name", st.name);
        json_u64(&j, "permits", st.permits);
        json_u64(&j, "used", st.used);
        json_u64(&j, "expired", st.expired);
        json_u64(&j, "available", st.available);
        json_u64(&j, "holders", st.holders);
        json_u64(&j, "waiters", st.waiters);
        json_u64(&j, "delay_left_ms", st.delay_left_ms);
        json_end(&j);
    } else {
        printf("name:        %s\n", st.name);
        printf("permits:     %u\n", (unsigned)st.permits);
        printf("used:        %u\n", (unsigned)st.used);
        if (st.expired > 0)
            printf("held back:   %u\n", (unsigned)st.expired);
        printf("available:   %u\n", (unsigned)st.available);
        printf("holders:     %u\n", (unsigned)st.holders);
        printf("waiters:     %u\n", (unsigned)st.waiters);
        if (st.delay_left_ms > 0) {
            char delay[32];
            duration_format(st.delay_left_ms, delay, sizeof delay);
            printf("lock-delay:  %s left\n", delay);
        }
    }
    dlock_client_free(c);
    return rc;
}

static void print_leader(const struct dlock_leader_info *li)
{
    printf("name:        %s\n", li->name);
    if (li->leader == 0) {
        printf("leader:      none\n");
    } else {
        char lease[32];
        duration_format(li->lease_left_ms, lease, sizeof lease);
        printf("leader:      session %llu", (unsigned long long)li->leader);
        if (li->owner[0] != '\0')
            printf(" (%s)", li->owner);
        printf("\ntoken:       %llu\n", (unsigned long long)li->token);
        printf("value:       ");
        fwrite(li->value, 1, li->value_len, stdout);
        printf("\nlease left:  %s\n", lease);
    }
    printf("candidates:  %u\n", (unsigned)li->candidates);
}

int show_leader_main(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    struct dlock_client *c;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--watch") == 0)
            return watch_leader_main(cli, argc, argv);
    int rc = show_scan(cli, argc, argv, show_leader_usage, &name, 1, 1, NULL);
    if (rc >= 0)
        return rc;
    if ((rc = cli_client(cli, NULL, &c)) != 0)
        return rc;
    struct dlock_leader_info li;
    int err = dlock_leader(c, name, &li);
    if (err != 0) {
        rc = report_failure(cli, c, err, name);
    } else if (cli->json) {
        struct json j;
        report_json_ok(&j);
        json_str(&j, "name", li.name);
        json_u64(&j, "leader", li.leader);
        json_str(&j, "owner", li.owner);
        json_u64(&j, "token", li.token);
        json_str(&j, "value", li.value);
        json_u64(&j, "candidates", li.candidates);
        json_u64(&j, "lease_left_ms", li.lease_left_ms);
        json_end(&j);
    } else {
        print_leader(&li);
    }
    dlock_client_free(c);
    return rc;
}
