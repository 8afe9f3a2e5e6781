/* test_config.c - dlockd's options (src/server/config.c): the one parser of
 * addresses to listen on and connect to, and the range of server ids. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "harness.h"

#include "server/config.h"

static int parse(const char *addr)
{
    struct sockaddr_storage sa;
    return config_parse_addr(addr, &sa);
}

/* Numeric IPv4 and IPv6 addresses (IPv6 in brackets or not) and localhost
 * are parsed with their port, in network order. */
TEST(config, parse_addr_accepts_numeric_hosts)
{
    struct sockaddr_storage sa;
    CHECK_EQ(config_parse_addr("10.1.2.3:7511", &sa), 0);
    const struct sockaddr_in *in4 = (const void *)&sa;
    CHECK_EQ(in4->sin_family, AF_INET);
    CHECK_EQ(ntohs(in4->sin_port), 7511);
    CHECK_EQ(ntohl(in4->sin_addr.s_addr), 0x0a010203u);
    CHECK_EQ(config_parse_addr("localhost:1", &sa), 0);
    CHECK_EQ(ntohl(in4->sin_addr.s_addr), 0x7f000001u);
    CHECK_EQ(config_parse_addr("[::1]:65535", &sa), 0);
    const struct sockaddr_in6 *in6 = (const void *)&sa;
    CHECK_EQ(in6->sin6_family, AF_INET6);
    CHECK_EQ(ntohs(in6->sin6_port), 65535);
    CHECK_EQ(in6->sin6_addr.s6_addr[15], 1);
    CHECK_EQ(parse("::1:7511"), 0);
    CHECK_EQ(parse("[fe80::1%lo]:7511"), 0);
}

/* Anything else is refused: no port, port 0 or past 65535, a name other
 * than localhost, an unknown IPv6 zone, junk around the numbers. */
TEST(config, parse_addr_refuses_what_cannot_be_used)
{
    const char *bad[] = {"notanaddress",
                         "[::1]:99999",
                         "127.0.0.1:0",
                         "127.0.0.1:",
                         "127.0.0.1",
                         ":7511",
                         "127.0.0.1:-1",
                         "127.0.0.1:+1",
                         "127.0.0.1:75x",
                         "127.0.0.1 :7511",
                         "127.0.0.256:7511",
                         "example.com:7511",
                         "[::1:7511",
                         "[fe80::1%no-such-interface]:7511",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(parse(bad[i]) != 0, "'%s' was accepted", bad[i]);
}

/* Two spellings of one address and port are the same; another port or
 * another address is not, and nor is anything malformed. */
TEST(config, same_addr)
{
    CHECK(config_same_addr("127.0.0.1:7511", "localhost:7511"));
    CHECK(config_same_addr("[::1]:7511", "::1:7511"));
    CHECK(config_same_addr("[0:0::1]:7511", "[::1]:7511"));
    CHECK(!config_same_addr("127.0.0.1:7511", "127.0.0.1:7512"));
    CHECK(!config_same_addr("127.0.0.1:7511", "127.0.0.2:7511"));
    CHECK(!config_same_addr("127.0.0.1:7511", "[::1]:7511"));
    CHECK(!config_same_addr("bad", "bad"));
}

static int run(int argc, char **argv, struct config *c, char *err)
{
    return config_parse(c, argc, argv, err, 512);
}

/* --id and the ids in --peers are 1 to 2^63-1 (replies show them as signed
 * RESP integers), and a refusal says so; --peers and --raft take only
 * addresses config_parse_addr takes. */
TEST(config, ids_and_peer_addresses)
{
    static struct config c;
    char err[512];
    char *max[] = {"dlockd", "--id", "9223372036854775807"};
    CHECK_EQ(run(3, max, &c, err), 0);
    CHECK_U64(c.id, 9223372036854775807u);
    char *big[] = {"dlockd", "--id", "9223372036854775808"};
    CHECK_EQ(run(3, big, &c, err), -1);
    CHECK_STR(err, "bad value for --id: '9223372036854775808' (a server id is "
                   "1 to 9223372036854775807)");
    char *peers[] = {"dlockd", "--peers",
                     "1=127.0.0.1:7511,18446744073709551614=127.0.0.1:7512"};
    CHECK_EQ(run(3, peers, &c, err), -1);
    CHECK(strstr(err, "ids 1 to 9223372036854775807") != NULL);
    char *addr[] = {"dlockd", "--peers", "1=127.0.0.1:7511,2=notanaddress"};
    CHECK_EQ(run(3, addr, &c, err), -1);
    char *raft[] = {"dlockd", "--raft", "127.0.0.1:0"};
    CHECK_EQ(run(3, raft, &c, err), -1);
    CHECK_STR(err, "bad value for --raft: '127.0.0.1:0' (HOST:PORT: HOST a "
                   "numeric IPv4 or IPv6 address or localhost; PORT 1 to "
                   "65535)");
    char *ok[] = {"dlockd", "--peers", "1=127.0.0.1:7511,2=[::1]:7512"};
    CHECK_EQ(run(3, ok, &c, err), 0);
    CHECK_EQ(c.n_peers, 2);
}

/* --reset-term is a flag without a value; it is off by default. */
TEST(config, reset_term_is_a_flag)
{
    struct config c;
    char err[512];
    char *plain[] = {"dlockd", "--id", "2"};
    CHECK_EQ(run(3, plain, &c, err), 0);
    CHECK(!c.reset_term);
    char *reset[] = {"dlockd", "--reset-term", "--id", "2"};
    CHECK_EQ(run(4, reset, &c, err), 0);
    CHECK(c.reset_term);
    CHECK_U64(c.id, 2);
}
