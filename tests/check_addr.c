/*
 * check_addr.c - lib/net/addr.c: network names, Go's SplitHostPort, address
 * parsing and formatting, and resolution with deadlines.
 *
 *  - pure functions: every network name and bad ones; SplitHostPort's
 *    table (the cases Go's documentation and tests describe, re-derived);
 *    literals, wildcards, ports, zones, family mismatches, unix paths and
 *    the abstract namespace; formatting (RFC 5952 as Go prints it) and
 *    round trips through every buffer size;
 *  - resolution against the real resolver ("localhost", a service name, a
 *    name that does not exist) from a goroutine, gort_main and a plain
 *    thread;
 *  - resolution against a fake resolver: addr.c is compiled into this
 *    program, so the getaddrinfo/freeaddrinfo defined below take the place
 *    of libc's for names under ".gort-test" (everything else goes on to
 *    libc). A fake lookup can be held at a gate, which makes the
 *    abandon-at-deadline and cancellation paths deterministic, and it
 *    counts the lists it hands out and gets back, so a leaked or doubly
 *    freed job shows.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/un.h>

#include "net/addr.h"

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)
#define SUN_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* ---- the fake resolver --------------------------------------------------- */

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);
typedef void (*freeai_fn)(struct addrinfo *);

static char fake_marker[] = "gort-test"; /* ai_canonname of fake nodes */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool gate_open;          /* "slow.gort-test" waits for it */
  _Atomic int64_t entered; /* fake lookups started */
  _Atomic int64_t made;    /* fake lists handed out */
  _Atomic int64_t freed;   /* fake lists given back */
  _Atomic int64_t calls;   /* every getaddrinfo call */
  struct addrinfo hints;   /* the last call's, under lock */
  bool had_hints, had_node, had_service;
  char node[64], service[64];
} fake;

static void fake_reset(void)
{
  memset(&fake, 0, sizeof fake);
  pthread_mutex_init(&fake.lock, NULL);
  pthread_cond_init(&fake.cond, NULL);
}

static void fake_open_gate(void)
{
  pthread_mutex_lock(&fake.lock);
  fake.gate_open = true;
  pthread_cond_broadcast(&fake.cond);
  pthread_mutex_unlock(&fake.lock);
}

typedef struct fnode {
  struct addrinfo ai;
  struct sockaddr_storage ss;
} fnode;

/* Appends text (an IPv4 or IPv6 literal) unless hints exclude its family. */
static void fake_add(struct addrinfo ***tail, const struct addrinfo *h,
                     const char *text)
{
  fnode *f = calloc(1, sizeof *f);
  ASSERT_NOT_NULL(f);
  if (strchr(text, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&f->ss;
    s6->sin6_family = AF_INET6;
    ASSERT_EQ(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
    f->ai.ai_addrlen = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&f->ss;
    s4->sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, text, &s4->sin_addr), 1);
    f->ai.ai_addrlen = sizeof *s4;
  }
  f->ai.ai_family = f->ss.ss_family;
  if (h && h->ai_family != AF_UNSPEC && h->ai_family != f->ai.ai_family) {
    free(f);
    return;
  }
  f->ai.ai_socktype = h ? h->ai_socktype : 0;
  f->ai.ai_addr = (struct sockaddr *)&f->ss;
  f->ai.ai_canonname = fake_marker;
  **tail = &f->ai;
  *tail = &f->ai.ai_next;
}

static int fake_lookup(const char *node, const struct addrinfo *h,
                       struct addrinfo **res)
{
  static const struct {
    const char *name;
    int rc;
  } errs[] = {
      {"noname.gort-test", EAI_NONAME}, {"again.gort-test", EAI_AGAIN},
      {"fail.gort-test", EAI_FAIL},     {"nodata.gort-test", EAI_NODATA},
      {"memory.gort-test", EAI_MEMORY}, {"service.gort-test", EAI_SERVICE},
  };
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
    if (strcmp(node, errs[i].name) == 0)
      return errs[i].rc;
  atomic_fetch_add(&fake.entered, 1);
  if (strcmp(node, "slow.gort-test") == 0) {
    pthread_mutex_lock(&fake.lock);
    while (!fake.gate_open)
      pthread_cond_wait(&fake.cond, &fake.lock);
    pthread_mutex_unlock(&fake.lock);
  }
  struct addrinfo *head = NULL, **tail = &head;
  if (strcmp(node, "order.gort-test") == 0) {
    /* IPv6 first, duplicates: addr.c must reorder and dedupe */
    const char *list[] = {"2001:db8::1", "192.0.2.1",   "192.0.2.1",
                          "2001:db8::2", "2001:db8::1", "192.0.2.2"};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
      fake_add(&tail, h, list[i]);
  } else if (strcmp(node, "v6only.gort-test") == 0) {
    fake_add(&tail, h, "2001:db8::7");
  } else {
    fake_add(&tail, h, "192.0.2.9");
    fake_add(&tail, h, "2001:db8::9");
  }
  if (head == NULL)
    return EAI_NONAME;
  atomic_fetch_add(&fake.made, 1);
  *res = head;
  return 0;
}

static bool is_fake(const char *node)
{
  size_t n = node ? strlen(node) : 0, k = strlen(".gort-test");
  return n > k && strcmp(node + n - k, ".gort-test") == 0;
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
  atomic_fetch_add(&fake.calls, 1);
  pthread_mutex_lock(&fake.lock);
  fake.had_hints = hints != NULL;
  if (hints)
    fake.hints = *hints;
  fake.had_node = node != NULL;
  fake.had_service = service != NULL;
  snprintf(fake.node, sizeof fake.node, "%s", node ? node : "");
  snprintf(fake.service, sizeof fake.service, "%s", service ? service : "");
  pthread_mutex_unlock(&fake.lock);
  if (is_fake(node))
    return fake_lookup(node, hints, res);
  gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  return real(node, service, hints, res);
}

void freeaddrinfo(struct addrinfo *ai)
{
  if (ai == NULL || ai->ai_canonname != fake_marker) {
    freeai_fn real = (freeai_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
    real(ai);
    return;
  }
  while (ai) {
    struct addrinfo *next = ai->ai_next;
    free(ai); /* the fnode: ai is its first member */
    ai = next;
  }
  atomic_fetch_add(&fake.freed, 1);
}

/* ---- helpers ------------------------------------------------------------- */

static gort__netinfo net(const char *name)
{
  gort__netinfo n;
  ASSERT_EQ(gort__net_parse(name, &n), 0);
  return n;
}

static const char *fmt(const gort__addr *a, char *buf, size_t len)
{
  int rc = gort__addr_format(a, buf, len);
  ASSERT_GE(rc, 0);
  ASSERT_EQ(rc, (int64_t)strlen(buf));
  return buf;
}

static int family(const gort__addr *a)
{
  return a->ss.ss_family;
}

/* After a test that resolved on the default scheduler (plain thread or
 * gort_main): shuts it down, which waits for lookups still under way and
 * ends the blocking pool's threads, so glibc frees their resolver state
 * (valgrind calls it lost otherwise). The next use starts a new one. */
static void default_shutdown(void)
{
  ASSERT_EQ(gort_sched_shutdown(gort_sched_default(), gt_long_deadline()), 0);
}

static bool same(const gort__addr *a, const gort__addr *b)
{
  return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* ---- networks ------------------------------------------------------------ */

START_TEST(test_net_parse)
{
  static const struct {
    const char *name;
    int family, socktype, protocol;
  } ok[] = {
      {"tcp", AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP},
      {"tcp4", AF_INET, SOCK_STREAM, IPPROTO_TCP},
      {"tcp6", AF_INET6, SOCK_STREAM, IPPROTO_TCP},
      {"udp", AF_UNSPEC, SOCK_DGRAM, IPPROTO_UDP},
      {"udp4", AF_INET, SOCK_DGRAM, IPPROTO_UDP},
      {"udp6", AF_INET6, SOCK_DGRAM, IPPROTO_UDP},
      {"unix", AF_UNIX, SOCK_STREAM, 0},
      {"unixgram", AF_UNIX, SOCK_DGRAM, 0},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    gort__netinfo n = {-1, -1, -1};
    ASSERT_EQ(gort__net_parse(ok[i].name, &n), 0);
    ASSERT_EQ(n.family, ok[i].family);
    ASSERT_EQ(n.socktype, ok[i].socktype);
    ASSERT_EQ(n.protocol, ok[i].protocol);
  }
  static const char *bad[] = {"",      "TCP",       "tcp7",   "tcp ",
                              " tcp",  "tc",        "tcp4\n", "ip",
                              "ip4",   "ip4:icmp",  "udp:53", "unixpacket",
                              "unix:", "unixgramx", "sctp"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    gort__netinfo n;
    ASSERT_EQ(gort__net_parse(bad[i], &n), GORT_EINVAL);
  }
  gort__netinfo n;
  ASSERT_EQ(gort__net_parse(NULL, &n), GORT_EINVAL);
  ASSERT_EQ(gort__net_parse("tcp", NULL), GORT_EINVAL);
}
END_TEST

/* ---- SplitHostPort ------------------------------------------------------- */

START_TEST(test_split)
{
  static const struct {
    const char *in, *host, *port;
  } ok[] = {
      {"localhost:http", "localhost", "http"},
      {"localhost:80", "localhost", "80"},
      {"golang.org:https", "golang.org", "https"},
      {"127.0.0.1:80", "127.0.0.1", "80"},
      {"[::1]:80", "::1", "80"},
      {"[fe80::1%lo0]:80", "fe80::1%lo0", "80"},
      {"[::1%lo0]:80", "::1%lo0", "80"},
      {"localhost%lo0:80", "localhost%lo0", "80"},
      {"[localhost%lo0]:80", "localhost%lo0", "80"},
      {"[foo:bar]:baz", "foo:bar", "baz"},
      {"[foo]:baz", "foo", "baz"},
      {":80", "", "80"},
      {"[]:80", "", "80"},
      {"127.0.0.1:", "127.0.0.1", ""}, /* an empty port is fine */
      {"[::1]:", "::1", ""},
      {":", "", ""},
      {"[]:", "", ""},
      {"a b:c d", "a b", "c d"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char h[64], p[32];
    ASSERT_EQ(gort__addr_split(ok[i].in, h, sizeof h, p, sizeof p), 0);
    ASSERT_STR_EQ(h, ok[i].host);
    ASSERT_STR_EQ(p, ok[i].port);
  }
  static const char *bad[] = {
      "",                /* missing port */
      "golang.org",      /* missing port */
      "127.0.0.1",       /* missing port */
      "[::1]",           /* missing port */
      "[fe80::1%lo0]",   /* missing port */
      "[localhost%lo0]", /* missing port */
      "localhost%lo0",   /* missing port */
      "::1",             /* too many colons */
      "fe80::1%lo0",     /* too many colons */
      "fe80::1%lo0:80",  /* too many colons */
      "a:b:c",           /* too many colons */
      "[foo:bar]",       /* missing port */
      "[foo:bar]baz",    /* missing port */
      "[foo]bar:baz",    /* missing port */
      "[foo]:[bar]:baz", /* too many colons */
      "[foo]:[bar]baz",  /* unexpected '[' */
      "foo[bar]:baz",    /* unexpected '[' */
      "foo]bar:baz",     /* unexpected ']' */
      "[foo]:]80",       /* unexpected ']' */
      "]:80",            /* unexpected ']' */
      "[:80",            /* missing ']' */
      "[[::1]]:80",      /* unexpected '[' */
      "[",               /* missing port */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char h[64] = "x", p[32] = "y";
    ASSERT_EQ(gort__addr_split(bad[i], h, sizeof h, p, sizeof p), GORT_EINVAL);
    ASSERT_STR_EQ(h, "");
    ASSERT_STR_EQ(p, "");
  }
}
END_TEST

START_TEST(test_split_buffers)
{
  char h[16], p[8];
  /* exactly fitting (with the NUL) works; one byte less does not */
  ASSERT_EQ(gort__addr_split("[::1]:80", h, 4, p, 3), 0);
  ASSERT_STR_EQ(h, "::1");
  ASSERT_STR_EQ(p, "80");
  ASSERT_EQ(gort__addr_split("[::1]:80", h, 3, p, 3), GORT_EINVAL);
  ASSERT_STR_EQ(h, "");
  ASSERT_EQ(gort__addr_split("[::1]:80", h, 4, p, 2), GORT_EINVAL);
  ASSERT_STR_EQ(h, "");
  ASSERT_STR_EQ(p, "");
  ASSERT_EQ(gort__addr_split(":", h, 1, p, 1), 0);
  ASSERT_EQ(gort__addr_split(NULL, h, sizeof h, p, sizeof p), GORT_EINVAL);
  ASSERT_EQ(gort__addr_split("a:1", NULL, sizeof h, p, sizeof p), GORT_EINVAL);
  ASSERT_EQ(gort__addr_split("a:1", h, 0, p, sizeof p), GORT_EINVAL);
  ASSERT_EQ(gort__addr_split("a:1", h, sizeof h, NULL, sizeof p), GORT_EINVAL);
  ASSERT_EQ(gort__addr_split("a:1", h, sizeof h, p, 0), GORT_EINVAL);
}
END_TEST

/* ---- parsing IP addresses ------------------------------------------------ */

/* passive: 0 dial, 1 listen, 2 both */
typedef struct pcase {
  const char *net, *addr;
  int passive;
  int rc;
  const char *text; /* formatted, for rc == 0 */
  int family;       /* for rc == 0 */
} pcase;

static void check_pcase(const pcase *c)
{
  gort__netinfo n = net(c->net);
  for (int pv = 0; pv < 2; pv++) {
    if (c->passive != 2 && c->passive != pv)
      continue;
    gort__addr a;
    memset(&a, 0xa5, sizeof a);
    int rc = gort__addr_parse(&n, c->addr, pv, &a);
    if (rc != c->rc)
      fprintf(stderr, "parse(%s, \"%s\", passive %d)\n", c->net, c->addr, pv);
    ASSERT_EQ(rc, c->rc);
    if (rc != 0)
      continue;
    char buf[128];
    ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), c->text);
    ASSERT_EQ(family(&a), c->family);
    ASSERT_U64_EQ(a.len, c->family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6));
  }
}

START_TEST(test_parse_ip)
{
  static const pcase cases[] = {
      {"tcp", "127.0.0.1:80", 2, 0, "127.0.0.1:80", AF_INET},
      {"tcp", "[::1]:80", 2, 0, "[::1]:80", AF_INET6},
      {"tcp", "[127.0.0.1]:80", 2, 0, "127.0.0.1:80", AF_INET},
      {"tcp4", "10.1.2.3:65535", 2, 0, "10.1.2.3:65535", AF_INET},
      {"tcp6", "[2001:db8::5]:1", 2, 0, "[2001:db8::5]:1", AF_INET6},
      {"udp", "255.255.255.255:53", 2, 0, "255.255.255.255:53", AF_INET},
      {"udp6", "[::]:53", 2, 0, "[::]:53", AF_INET6},
      {"tcp", "0.0.0.0:1", 2, 0, "0.0.0.0:1", AF_INET},
      /* empty host: the wildcard when listening, the loopback dialling */
      {"tcp", ":0", 1, 0, "[::]:0", AF_INET6},
      {"tcp", ":0", 0, 0, "127.0.0.1:0", AF_INET},
      {"tcp", "[]:8080", 1, 0, "[::]:8080", AF_INET6},
      {"tcp4", ":0", 1, 0, "0.0.0.0:0", AF_INET},
      {"tcp4", ":0", 0, 0, "127.0.0.1:0", AF_INET},
      {"tcp6", ":8080", 1, 0, "[::]:8080", AF_INET6},
      {"tcp6", ":8080", 0, 0, "[::1]:8080", AF_INET6},
      {"udp", ":53", 1, 0, "[::]:53", AF_INET6},
      {"udp", ":53", 0, 0, "127.0.0.1:53", AF_INET},
      {"udp4", ":53", 1, 0, "0.0.0.0:53", AF_INET},
      {"udp4", ":53", 0, 0, "127.0.0.1:53", AF_INET},
      {"udp6", ":53", 1, 0, "[::]:53", AF_INET6},
      {"udp6", ":53", 0, 0, "[::1]:53", AF_INET6},
      /* ports, as Go's parsePort */
      {"tcp", "127.0.0.1:", 2, 0, "127.0.0.1:0", AF_INET},
      {"tcp", ":", 1, 0, "[::]:0", AF_INET6},
      {"tcp", "127.0.0.1:0080", 2, 0, "127.0.0.1:80", AF_INET},
      {"tcp", "127.0.0.1:+80", 2, 0, "127.0.0.1:80", AF_INET},
      {"tcp", "127.0.0.1:-0", 2, 0, "127.0.0.1:0", AF_INET},
      {"tcp", "127.0.0.1:00000000000000000000000001", 2, 0, "127.0.0.1:1",
       AF_INET},
      {"tcp", "127.0.0.1:65536", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "127.0.0.1:-1", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "127.0.0.1:4294967376", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "127.0.0.1:99999999999999999999999", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "localhost:70000", 2, GORT_EINVAL, NULL, 0},
      /* names need a lookup */
      {"tcp", "localhost:80", 2, GORT_EAGAIN, NULL, 0},
      {"tcp", "127.0.0.1:http", 2, GORT_EAGAIN, NULL, 0},
      {"tcp", "[::1]:http", 2, GORT_EAGAIN, NULL, 0},
      {"tcp", ":http", 2, GORT_EAGAIN, NULL, 0},
      {"tcp", "127.0.0.1:8o", 2, GORT_EAGAIN, NULL, 0},
      {"tcp", "1.2.3.256:80", 2, GORT_EAGAIN, NULL, 0}, /* a name to Go */
      {"tcp6", "example.com:80", 2, GORT_EAGAIN, NULL, 0},
      /* malformed */
      {"tcp", "127.0.0.1", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "::1:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[::1]", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[::g]:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[1:2:3:4:5:6:7:8:9]:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[::1]:http:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "/tmp/sock", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "1.2.3.4%lo:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[fe80::1%]:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[fe80::1%no-such-if0]:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[fe80::1%4294967296]:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[fe80::1%-1]:80", 2, GORT_EINVAL, NULL, 0},
      {"tcp", "[fe80::1%%1]:80", 2, GORT_EINVAL, NULL, 0},
      /* the literal's family against the network's */
      {"tcp4", "[::1]:1", 2, GORT_EAFNOSUPPORT, NULL, 0},
      {"udp4", "[2001:db8::1]:1", 2, GORT_EAFNOSUPPORT, NULL, 0},
      {"tcp6", "127.0.0.1:1", 2, GORT_EAFNOSUPPORT, NULL, 0},
      {"udp6", "[10.0.0.1]:1", 2, GORT_EAFNOSUPPORT, NULL, 0},
      /* IPv4-mapped IPv6 is IPv4, as Go treats it */
      {"tcp", "[::ffff:1.2.3.4]:80", 2, 0, "1.2.3.4:80", AF_INET},
      {"tcp4", "[::ffff:102:304]:80", 2, 0, "1.2.3.4:80", AF_INET},
      {"tcp6", "[::ffff:1.2.3.4]:80", 2, GORT_EAFNOSUPPORT, NULL, 0},
      /* text as Go prints it: RFC 5952 */
      {"tcp", "[2001:DB8::1]:1", 2, 0, "[2001:db8::1]:1", AF_INET6},
      {"tcp", "[2001:db8:0:0:1:0:0:1]:1", 2, 0, "[2001:db8::1:0:0:1]:1",
       AF_INET6},
      {"tcp", "[2001:db8:0:1:1:1:1:1]:1", 2, 0, "[2001:db8:0:1:1:1:1:1]:1",
       AF_INET6},
      {"tcp", "[0:0:1:0:0:0:1:0]:1", 2, 0, "[0:0:1::1:0]:1", AF_INET6},
      {"tcp", "[1:0:0:2:0:0:3:4]:1", 2, 0, "[1::2:0:0:3:4]:1", AF_INET6},
      {"tcp", "[1::]:1", 2, 0, "[1::]:1", AF_INET6},
      {"tcp", "[0:0:0:0:0:0:0:0]:1", 2, 0, "[::]:1", AF_INET6},
      {"tcp", "[::1.2.3.4]:1", 2, 0, "[::102:304]:1", AF_INET6},
      {"tcp", "[::ffff:0:1.2.3.4]:1", 2, 0, "[::ffff:0:102:304]:1", AF_INET6},
      {"tcp", "[0001:0db8:000a::]:1", 2, 0, "[1:db8:a::]:1", AF_INET6},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_pcase(&cases[i]);
}
END_TEST

START_TEST(test_parse_zone)
{
  gort__netinfo n = net("tcp");
  gort__addr a;
  char buf[128], want[128], in[128];
  /* a numeric zone with no interface behind it stays a number */
  ASSERT_EQ(gort__addr_parse(&n, "[fe80::1%99999]:80", false, &a), 0);
  ASSERT_EQ(((struct sockaddr_in6 *)&a.ss)->sin6_scope_id, 99999);
  char name[IF_NAMESIZE];
  if (if_indextoname(99999, name) == NULL)
    ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "[fe80::1%99999]:80");
  ASSERT_EQ(gort__addr_parse(&n, "[fe80::1%4294967295]:80", false, &a), 0);
  ASSERT_U64_EQ(((struct sockaddr_in6 *)&a.ss)->sin6_scope_id, UINT32_MAX);

  unsigned lo = if_nametoindex("lo");
  if (lo == 0) {
    fprintf(stderr, "%s: no interface \"lo\": named zones skipped\n", __func__);
    return;
  }
  ASSERT_EQ(gort__addr_parse(&n, "[fe80::1%lo]:80", true, &a), 0);
  ASSERT_EQ(((struct sockaddr_in6 *)&a.ss)->sin6_scope_id, lo);
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "[fe80::1%lo]:80");
  snprintf(in, sizeof in, "[fe80::1%%%u]:443", lo); /* by number */
  ASSERT_EQ(gort__addr_parse(&n, in, false, &a), 0);
  ASSERT_EQ(((struct sockaddr_in6 *)&a.ss)->sin6_scope_id, lo);
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "[fe80::1%lo]:443");
  ASSERT_EQ(gort__addr_parse(&n, "[ff02::1%lo]:9", false, &a), 0);
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "[ff02::1%lo]:9");
  /* a zone on a mapped address goes with the IPv6 form */
  ASSERT_EQ(gort__addr_parse(&n, "[::ffff:1.2.3.4%lo]:80", false, &a), 0);
  ASSERT_EQ(family(&a), AF_INET);
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "1.2.3.4:80");
  gort__netinfo n4 = net("tcp4");
  ASSERT_EQ(gort__addr_parse(&n4, "[fe80::1%lo]:80", false, &a),
            GORT_EAFNOSUPPORT);
  /* a mapped address with a scope (only getsockname makes one) prints as
   * Go's TCPAddr.String does: zone, no brackets */
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;
  memset(&a, 0, sizeof a);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(7);
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.0.0.1", &s6->sin6_addr), 1);
  s6->sin6_scope_id = lo;
  a.len = sizeof *s6;
  snprintf(want, sizeof want, "10.0.0.1%%lo:7");
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), want);
}
END_TEST

START_TEST(test_parse_long)
{
  gort__netinfo n = net("tcp");
  gort__addr a;
  char *s = malloc(5000);
  ASSERT_NOT_NULL(s);
  memset(s, 'a', 4000);
  strcpy(s + 4000, ":80"); /* a host longer than any name */
  ASSERT_EQ(gort__addr_parse(&n, s, false, &a), GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&n, s, false, &a, 1, GORT_NEVER), GORT_EINVAL);
  strcpy(s, "localhost:");
  memset(s + 10, 'p', 100); /* a service name longer than any */
  s[110] = '\0';
  ASSERT_EQ(gort__addr_parse(&n, s, false, &a), GORT_EINVAL);
  memset(s, '0', 4000); /* a long port of zeros is still a number */
  strcpy(s + 4000, "1");
  char *t = malloc(5100);
  ASSERT_NOT_NULL(t);
  snprintf(t, 5100, "127.0.0.1:%s", s);
  ASSERT_EQ(gort__addr_parse(&n, t, false, &a), 0);
  char buf[64];
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "127.0.0.1:1");
  free(t);
  free(s);
}
END_TEST

/* ---- unix addresses ------------------------------------------------------ */

START_TEST(test_parse_unix)
{
  static const char *nets[] = {"unix", "unixgram"};
  for (int k = 0; k < 2; k++) {
    gort__netinfo n = net(nets[k]);
    for (int pv = 0; pv < 2; pv++) {
      gort__addr a;
      char buf[256];
      const struct sockaddr_un *un = (const struct sockaddr_un *)&a.ss;
      ASSERT_EQ(gort__addr_parse(&n, "/tmp/x.sock", pv, &a), 0);
      ASSERT_EQ(family(&a), AF_UNIX);
      ASSERT_U64_EQ(a.len, SUN_OFF + strlen("/tmp/x.sock") + 1);
      ASSERT_STR_EQ(un->sun_path, "/tmp/x.sock");
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "/tmp/x.sock");
      /* anything is a path, even what looks like host:port */
      ASSERT_EQ(gort__addr_parse(&n, "127.0.0.1:80", pv, &a), 0);
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "127.0.0.1:80");
      ASSERT_EQ(gort__addr_parse(&n, "rel/sock", pv, &a), 0);
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "rel/sock");
      /* unnamed */
      ASSERT_EQ(gort__addr_parse(&n, "", pv, &a), 0);
      ASSERT_U64_EQ(a.len, SUN_OFF);
      ASSERT_EQ(gort__addr_format(&a, buf, sizeof buf), 0);
      ASSERT_STR_EQ(buf, "");
      /* the longest path that fits with its NUL, and one more */
      char path[SUN_MAX + 2];
      memset(path, 'p', sizeof path);
      path[0] = '/';
      path[SUN_MAX - 1] = '\0';
      ASSERT_EQ(gort__addr_parse(&n, path, pv, &a), 0);
      ASSERT_U64_EQ(a.len, SUN_OFF + SUN_MAX);
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), path);
      path[SUN_MAX - 1] = 'p';
      path[SUN_MAX] = '\0';
      ASSERT_EQ(gort__addr_parse(&n, path, pv, &a), GORT_EINVAL);
      path[SUN_MAX + 1] = '\0';
      path[SUN_MAX] = 'p';
      ASSERT_EQ(gort__addr_parse(&n, path, pv, &a), GORT_EINVAL);
#if defined(__linux__)
      /* the abstract namespace: no NUL counted */
      ASSERT_EQ(gort__addr_parse(&n, "@gort-abs", pv, &a), 0);
      ASSERT_EQ(un->sun_path[0], 0);
      ASSERT_EQ(memcmp(un->sun_path + 1, "gort-abs", 8), 0);
      ASSERT_U64_EQ(a.len, SUN_OFF + 1 + strlen("gort-abs"));
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "@gort-abs");
      ASSERT_EQ(gort__addr_parse(&n, "@", pv, &a), 0);
      ASSERT_U64_EQ(a.len, SUN_OFF + 1);
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "@");
      /* "@" plus SUN_MAX - 1 bytes fills sun_path; one more does not fit */
      char abs[SUN_MAX + 2];
      memset(abs, 'a', sizeof abs);
      abs[0] = '@';
      abs[SUN_MAX] = '\0';
      ASSERT_EQ(gort__addr_parse(&n, abs, pv, &a), 0);
      ASSERT_U64_EQ(a.len, SUN_OFF + SUN_MAX);
      ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), abs);
      abs[SUN_MAX] = 'a';
      abs[SUN_MAX + 1] = '\0';
      ASSERT_EQ(gort__addr_parse(&n, abs, pv, &a), GORT_EINVAL);
#endif
    }
  }
}
END_TEST

START_TEST(test_format_unix_raw)
{
  /* what getsockname may hand back: a path filling sun_path, no NUL */
  gort__addr a;
  struct sockaddr_un *un = (struct sockaddr_un *)&a.ss;
  char buf[256], want[SUN_MAX + 1];
  memset(&a, 0, sizeof a);
  un->sun_family = AF_UNIX;
  memset(un->sun_path, 'z', SUN_MAX);
  a.len = SUN_OFF + SUN_MAX;
  memset(want, 'z', SUN_MAX);
  want[SUN_MAX] = '\0';
  ASSERT_EQ(gort__addr_format(&a, buf, sizeof buf), (int)SUN_MAX);
  ASSERT_STR_EQ(buf, want);
  /* a length that counts bytes past the NUL */
  memset(&a, 0, sizeof a);
  un->sun_family = AF_UNIX;
  strcpy(un->sun_path, "/s");
  a.len = sizeof *un;
  ASSERT_STR_EQ(fmt(&a, buf, sizeof buf), "/s");
  /* lengths no unix address has */
  a.len = SUN_OFF - 1;
  ASSERT_EQ(gort__addr_format(&a, buf, sizeof buf), GORT_EINVAL);
  ASSERT_STR_EQ(buf, "");
  a.len = sizeof *un + 1;
  ASSERT_EQ(gort__addr_format(&a, buf, sizeof buf), GORT_EINVAL);
}
END_TEST

/* ---- formatting ---------------------------------------------------------- */

START_TEST(test_format_roundtrip)
{
  static const struct {
    const char *net, *addr;
  } cases[] = {
      {"tcp", "127.0.0.1:80"},
      {"tcp", "[::1]:80"},
      {"tcp4", "0.0.0.0:0"},
      {"udp6", "[2001:db8::1:0:0:1]:65535"},
      {"tcp", "[::]:1"},
      {"udp", "192.0.2.200:5353"},
      {"tcp6", "[fe80::1%99999]:8"},
      {"unix", "/tmp/a"},
      {"unixgram", ""},
      {"unix", "@abs"},
      {"tcp", "[1:2:3:4:5:6:7:8]:9"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gort__netinfo n = net(cases[i].net);
    gort__addr a, b;
    char buf[128];
    ASSERT_EQ(gort__addr_parse(&n, cases[i].addr, true, &a), 0);
    int len = gort__addr_format(&a, buf, sizeof buf);
    ASSERT_EQ(len, (int64_t)strlen(cases[i].addr));
    ASSERT_STR_EQ(buf, cases[i].addr);
    ASSERT_EQ(gort__addr_parse(&n, buf, true, &b), 0);
    ASSERT_TRUE(same(&a, &b));
    /* every buffer size: too small gives GORT_EINVAL and "" */
    for (size_t sz = 1; sz <= (size_t)len + 1; sz++) {
      char small[128];
      memset(small, 'x', sizeof small);
      int rc = gort__addr_format(&a, small, sz);
      if (sz == (size_t)len + 1) {
        ASSERT_EQ(rc, len);
        ASSERT_STR_EQ(small, cases[i].addr);
      } else {
        ASSERT_EQ(rc, GORT_EINVAL);
        ASSERT_EQ(small[0], '\0');
        ASSERT_EQ(small[sz], 'x'); /* nothing past the buffer */
      }
    }
  }
}
END_TEST

START_TEST(test_invalid)
{
  gort__netinfo n = net("tcp"), bogus = {AF_APPLETALK, SOCK_STREAM, 0};
  gort__addr a;
  char buf[64];
  ASSERT_EQ(gort__addr_parse(NULL, "1.2.3.4:5", false, &a), GORT_EINVAL);
  ASSERT_EQ(gort__addr_parse(&n, NULL, false, &a), GORT_EINVAL);
  ASSERT_EQ(gort__addr_parse(&n, "1.2.3.4:5", false, NULL), GORT_EINVAL);
  ASSERT_EQ(gort__addr_parse(&bogus, "1.2.3.4:5", false, &a), GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(NULL, "1.2.3.4:5", false, &a, 1, 0),
            GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&n, NULL, false, &a, 1, 0), GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&n, "1.2.3.4:5", false, NULL, 1, 0),
            GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&n, "1.2.3.4:5", false, &a, 0, 0), GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&n, "1.2.3.4:5", false, &a, -1, 0), GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&bogus, "x:5", false, &a, 1, GORT_NEVER),
            GORT_EINVAL);
  ASSERT_EQ(gort__addr_parse(&n, "1.2.3.4:5", false, &a), 0);
  ASSERT_EQ(gort__addr_format(NULL, buf, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort__addr_format(&a, NULL, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort__addr_format(&a, buf, 0), GORT_EINVAL);
  gort__addr b = a;
  b.len = sizeof(struct sockaddr_in) - 1;
  ASSERT_EQ(gort__addr_format(&b, buf, sizeof buf), GORT_EINVAL);
  b.len = sizeof b.ss + 1;
  ASSERT_EQ(gort__addr_format(&b, buf, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort__addr_parse(&n, "[::1]:5", false, &b), 0);
  b.len = sizeof(struct sockaddr_in6) - 1;
  ASSERT_EQ(gort__addr_format(&b, buf, sizeof buf), GORT_EINVAL);
  memset(&b, 0, sizeof b);
  b.ss.ss_family = AF_APPLETALK;
  b.len = sizeof b.ss;
  ASSERT_EQ(gort__addr_format(&b, buf, sizeof buf), GORT_EINVAL);
  ASSERT_STR_EQ(buf, "");
  memset(&b, 0, sizeof b); /* AF_UNSPEC, len 0 */
  ASSERT_EQ(gort__addr_format(&b, buf, sizeof buf), GORT_EINVAL);
}
END_TEST

/* ---- resolve: literals and the deadline contract ------------------------- */

static void literal_body(void *arg)
{
  (void)arg;
  gort__netinfo n = net("tcp");
  gort__addr out[4];
  char buf[64];
  int64_t calls = atomic_load(&fake.calls);
  /* no lookup: the deadline does not matter */
  int64_t dls[] = {0, GT_PAST, GORT_NEVER, gt_long_deadline()};
  for (size_t i = 0; i < sizeof dls / sizeof dls[0]; i++) {
    ASSERT_EQ(gort__addr_resolve(&n, "127.0.0.1:80", false, out, 4, dls[i]), 1);
    ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "127.0.0.1:80");
    ASSERT_EQ(gort__addr_resolve(&n, ":9", true, out, 1, dls[i]), 1);
    ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "[::]:9");
  }
  gort__netinfo u = net("unix");
  ASSERT_EQ(gort__addr_resolve(&u, "/x", false, out, 1, 0), 1);
  /* errors of the parse come straight back */
  ASSERT_EQ(gort__addr_resolve(&n, "1.2.3.4", false, out, 1, GORT_NEVER),
            GORT_EINVAL);
  ASSERT_EQ(gort__addr_resolve(&n, "1.2.3.4:99999", false, out, 1, 0),
            GORT_EINVAL);
  gort__netinfo n6 = net("tcp6");
  ASSERT_EQ(gort__addr_resolve(&n6, "1.2.3.4:80", false, out, 1, 0),
            GORT_EAFNOSUPPORT);
  /* a name with deadline 0 or a past one: no lookup is started */
  ASSERT_EQ(gort__addr_resolve(&n, "localhost:80", false, out, 4, 0),
            GORT_EAGAIN);
  ASSERT_EQ(gort__addr_resolve(&n, "fast.gort-test:80", false, out, 4, 0),
            GORT_EAGAIN);
  ASSERT_EQ(gort__addr_resolve(&n, "localhost:80", false, out, 4, GT_PAST),
            GORT_ETIMEDOUT);
  ASSERT_EQ(
      gort__addr_resolve(&n, "127.0.0.1:http", false, out, 4, gort_now() - 1),
      GORT_ETIMEDOUT);
  ASSERT_EQ(gort__addr_resolve(&n, "x.gort-test:1", false, out, 4, -5),
            GORT_ETIMEDOUT);
  ASSERT_EQ(atomic_load(&fake.calls), calls);
}

/* _i: 0 in a goroutine, 1 on the test's plain thread */
START_TEST(test_resolve_literal)
{
  fake_reset();
  if (_i == 0)
    gt_run_in(2, literal_body, NULL);
  else
    literal_body(NULL);
}
END_TEST

/* ---- resolve: the real resolver ------------------------------------------ */

static void localhost_body(void *arg)
{
  (void)arg;
  static const char *nets[] = {"tcp", "tcp4", "udp"};
  for (size_t k = 0; k < sizeof nets / sizeof nets[0]; k++) {
    gort__netinfo n = net(nets[k]);
    gort__addr out[8];
    char buf[64];
    int rc = gort__addr_resolve(&n, "localhost:80", false, out, 8,
                                gt_long_deadline());
    ASSERT_GE(rc, 1);
    bool seen6 = false;
    for (int i = 0; i < rc; i++) {
      fmt(&out[i], buf, sizeof buf);
      if (family(&out[i]) == AF_INET) {
        ASSERT_FALSE(seen6); /* IPv4 first */
        ASSERT_STR_EQ(buf, "127.0.0.1:80");
      } else {
        ASSERT_EQ(family(&out[i]), AF_INET6);
        ASSERT_EQ(n.family, AF_UNSPEC);
        ASSERT_STR_EQ(buf, "[::1]:80");
        seen6 = true;
      }
      for (int j = 0; j < i; j++)
        ASSERT_FALSE(same(&out[i], &out[j])); /* no duplicates */
    }
    ASSERT_EQ(gort__addr_resolve(&n, "localhost:80", false, out, 1, GORT_NEVER),
              1);
  }
}

/* _i: 0 a goroutine on its own scheduler, 1 gort_main, 2 a plain thread */
START_TEST(test_resolve_localhost)
{
  fake_reset();
  if (_i == 0)
    gt_run_in(2, localhost_body, NULL);
  else if (_i == 1)
    gt_run_main(localhost_body, NULL);
  else
    localhost_body(NULL);
  if (_i != 0)
    default_shutdown();
}
END_TEST

static void service_body(void *arg)
{
  (void)arg;
  gort__netinfo n = net("tcp");
  gort__addr out[4];
  char buf[64];
  int64_t end = gt_long_deadline();
  /* only the service is a name: the host stays as parsed */
  ASSERT_EQ(gort__addr_resolve(&n, "127.0.0.1:http", false, out, 4, end), 1);
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "127.0.0.1:80");
  ASSERT_EQ(gort__addr_resolve(&n, ":http", true, out, 4, end), 1);
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "[::]:80");
  ASSERT_EQ(gort__addr_resolve(&n, ":http", false, out, 4, end), 1);
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "127.0.0.1:80");
  gort__netinfo n6 = net("tcp6");
  ASSERT_EQ(gort__addr_resolve(&n6, "[::1]:http", false, out, 4, end), 1);
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "[::1]:80");
  /* both names */
  int rc = gort__addr_resolve(&n, "localhost:http", false, out, 4, end);
  ASSERT_GE(rc, 1);
  fmt(&out[0], buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "127.0.0.1:80") == 0 || strcmp(buf, "[::1]:80") == 0);
  /* a service nobody has */
  ASSERT_EQ(gort__addr_resolve(&n, "127.0.0.1:no-such-service-gort", false, out,
                               4, end),
            GORT_EINVAL);
}

START_TEST(test_resolve_service)
{
  fake_reset();
  struct servent *se = getservbyname("http", "tcp");
  if (se == NULL || ntohs((uint16_t)se->s_port) != 80) {
    fprintf(stderr, "%s: no http/tcp in the services database: skipped\n",
            __func__);
    return;
  }
  if (_i == 0) {
    gt_run_in(2, service_body, NULL);
  } else {
    service_body(NULL);
    default_shutdown();
  }
}
END_TEST

START_TEST(test_resolve_nohost)
{
  /* a plain thread: if the resolver hangs, the abandoned lookup is not
   * waited for by a scheduler shutdown */
  fake_reset();
  gort__netinfo n = net("tcp");
  gort__addr out[2];
  int rc = gort__addr_resolve(&n, "nonexistent.invalid:80", false, out, 2,
                              gt_deadline(GT_SEC(20)));
  ASSERT_ONE_OF(rc, GORT_ENOHOST, GORT_ETIMEDOUT);
  default_shutdown(); /* waits for an abandoned lookup to end */
}
END_TEST

/* ---- resolve: the fake resolver ------------------------------------------ */

static void order_body(void *arg)
{
  (void)arg;
  gort__netinfo n = net("tcp");
  gort__addr out[8];
  char buf[64];
  int64_t end = gt_long_deadline();
  ASSERT_EQ(gort__addr_resolve(&n, "order.gort-test:443", false, out, 8, end),
            4);
  static const char *want[] = {"192.0.2.1:443", "192.0.2.2:443",
                               "[2001:db8::1]:443", "[2001:db8::2]:443"};
  for (int i = 0; i < 4; i++)
    ASSERT_STR_EQ(fmt(&out[i], buf, sizeof buf), want[i]);
  pthread_mutex_lock(&fake.lock);
  ASSERT_TRUE(fake.had_hints);
  ASSERT_STR_EQ(fake.node, "order.gort-test");
  ASSERT_FALSE(fake.had_service); /* a numeric port is set by addr.c */
  ASSERT_EQ(fake.hints.ai_family, AF_UNSPEC);
  ASSERT_EQ(fake.hints.ai_socktype, SOCK_STREAM);
  ASSERT_EQ(fake.hints.ai_flags & AI_PASSIVE, 0);
  ASSERT_EQ(fake.hints.ai_flags & AI_ADDRCONFIG, 0);
  pthread_mutex_unlock(&fake.lock);
  /* max cuts the list after ordering */
  ASSERT_EQ(gort__addr_resolve(&n, "order.gort-test:1", false, out, 3, end), 3);
  ASSERT_STR_EQ(fmt(&out[2], buf, sizeof buf), "[2001:db8::1]:1");
  ASSERT_EQ(gort__addr_resolve(&n, "order.gort-test:1", false, out, 1, end), 1);
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "192.0.2.1:1");
  /* the network's family and socket type go into the hints */
  gort__netinfo u6 = net("udp6");
  ASSERT_EQ(gort__addr_resolve(&u6, "order.gort-test:53", true, out, 8, end),
            2);
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "[2001:db8::1]:53");
  pthread_mutex_lock(&fake.lock);
  ASSERT_EQ(fake.hints.ai_family, AF_INET6);
  ASSERT_EQ(fake.hints.ai_socktype, SOCK_DGRAM);
  ASSERT_EQ(fake.hints.ai_flags & AI_PASSIVE, AI_PASSIVE);
  ASSERT_EQ(fake.hints.ai_flags & AI_ADDRCONFIG, 0);
  pthread_mutex_unlock(&fake.lock);
  gort__netinfo n4 = net("tcp4");
  ASSERT_EQ(gort__addr_resolve(&n4, "v6only.gort-test:1", false, out, 8, end),
            GORT_ENOHOST);
  /* getaddrinfo's errors */
  static const struct {
    const char *addr;
    int rc;
  } errs[] = {
      {"noname.gort-test:1", GORT_ENOHOST},
      {"again.gort-test:1", GORT_ENOHOST},
      {"fail.gort-test:1", GORT_ENOHOST},
      {"nodata.gort-test:1", GORT_ENOHOST},
      {"memory.gort-test:1", GORT_ENOMEM},
      {"service.gort-test:1", GORT_EINVAL},
  };
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
    ASSERT_EQ(gort__addr_resolve(&n, errs[i].addr, false, out, 8, end),
              errs[i].rc);
}

START_TEST(test_resolve_fake)
{
  fake_reset();
  if (_i == 0) {
    gt_run_in(2, order_body, NULL);
  } else {
    order_body(NULL);
    default_shutdown();
  }
  ASSERT_EQ(atomic_load(&fake.freed), atomic_load(&fake.made));
}
END_TEST

/* A lookup that outlives its caller's deadline is abandoned; it finishes
 * later and frees itself. */
static void abandon_body(void *arg)
{
  (void)arg;
  gort__netinfo n = net("tcp");
  gort__addr out[2];
  int64_t t0 = gort_now();
  ASSERT_EQ(gort__addr_resolve(&n, "slow.gort-test:80", false, out, 2,
                               t0 + GT_MS(20)),
            GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), t0 + GT_MS(20));
  ASSERT_EQ(atomic_load(&fake.freed), 0);
  /* a second caller abandons its own lookup too (20 ms, not 1: under
   * qemu-user 1 ms could pass before the lookup starts, and a deadline
   * already past starts none) */
  ASSERT_EQ(gort__addr_resolve(&n, "slow.gort-test:81", false, out, 2,
                               gort_now() + GT_MS(20)),
            GORT_ETIMEDOUT);
  ASSERT_TRUE(gt_await_ge(&fake.entered, 2)); /* both held at the gate */
  ASSERT_EQ(atomic_load(&fake.made), 0);
  fake_open_gate();
  ASSERT_TRUE(gt_await_ge(&fake.freed, 2)); /* both jobs freed themselves */
  /* with the gate open the same name resolves */
  ASSERT_EQ(gort__addr_resolve(&n, "slow.gort-test:80", false, out, 2,
                               gt_long_deadline()),
            2);
}

START_TEST(test_resolve_abandon)
{
  fake_reset();
  if (_i == 0) {
    gt_run_in(2, abandon_body, NULL);
  } else {
    abandon_body(NULL);
    default_shutdown();
  }
  ASSERT_EQ(atomic_load(&fake.freed), atomic_load(&fake.made));
}
END_TEST

static _Atomic int64_t cancel_rc;

static void cancelled_resolver(void *arg)
{
  (void)arg;
  gort__netinfo n = net("tcp");
  gort__addr out[2];
  atomic_store(&cancel_rc, gort__addr_resolve(&n, "slow.gort-test:80", false,
                                              out, 2, GORT_NEVER));
  /* cancellation is sticky: no new lookup is started */
  int64_t calls = atomic_load(&fake.calls);
  ASSERT_EQ(
      gort__addr_resolve(&n, "fast.gort-test:80", false, out, 2, GORT_NEVER),
      GORT_ECANCELED);
  ASSERT_EQ(atomic_load(&fake.calls), calls);
}

static void cancel_body(void *arg)
{
  (void)arg;
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(NULL, cancelled_resolver, NULL, 0, &g), 0);
  ASSERT_TRUE(gt_await_ge(&fake.entered, 1)); /* the lookup is under way */
  ASSERT_EQ(gort_cancel(g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(atomic_load(&cancel_rc), GORT_ECANCELED);
  fake_open_gate();
  ASSERT_TRUE(gt_await_ge(&fake.freed, 1));
}

START_TEST(test_resolve_cancel)
{
  fake_reset();
  atomic_store(&cancel_rc, 1);
  gt_run_in(2, cancel_body, NULL);
  ASSERT_EQ(atomic_load(&fake.freed), atomic_load(&fake.made));
}
END_TEST

/* Many callers, some deadlines too short: every job is freed exactly once
 * whichever side lets go last. */
typedef struct storm {
  _Atomic uint64_t next; /* seeds, one per goroutine or thread */
  _Atomic int64_t ok, timedout;
} storm;

static void storm_one(storm *st, uint64_t *seed)
{
  gort__netinfo n = net((gt_rand(seed) & 1) ? "tcp" : "udp4");
  gort__addr out[4];
  int64_t dl;
  switch (gt_rand(seed) % 4) {
  case 0:
    dl = GORT_NEVER;
    break;
  case 1:
    dl = gort_now() + (int64_t)(gt_rand(seed) % GT_US(200));
    break;
  default:
    dl = gort_now() + (int64_t)(gt_rand(seed) % GT_US(20));
    break;
  }
  int rc = gort__addr_resolve(&n, "fast.gort-test:7", false, out, 4, dl);
  if (rc == GORT_ETIMEDOUT) {
    atomic_fetch_add(&st->timedout, 1);
    return;
  }
  ASSERT_EQ(rc, n.family == AF_INET ? 1 : 2);
  char buf[64];
  ASSERT_STR_EQ(fmt(&out[0], buf, sizeof buf), "192.0.2.9:7");
  atomic_fetch_add(&st->ok, 1);
}

static void storm_g(void *arg)
{
  storm *st = arg;
  uint64_t seed = (atomic_fetch_add(&st->next, 1) + 1) * 0x9E3779B97F4A7C15ull;
  for (int64_t i = 0; i < SCALED(200); i++)
    storm_one(st, &seed);
}

static void *storm_thread(void *arg)
{
  storm_g(arg);
  return NULL;
}

static void storm_body(void *arg)
{
  gt_spawn_join_n(NULL, 4, storm_g, arg, NULL);
}

/* _i: 0 goroutines on 2 Ps, 1 plain threads (the default scheduler) */
START_TEST(test_resolve_storm)
{
  static storm st;
  memset(&st, 0, sizeof st);
  atomic_store(&st.next, 100u * (uint64_t)_i);
  fake_reset();
  if (_i == 0) {
    gt_run_in(2, storm_body, &st);
  } else {
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
      t[i] = gt_thread(storm_thread, &st);
    for (int i = 0; i < 3; i++)
      gt_thread_join(t[i]);
    default_shutdown(); /* abandoned jobs end before it returns */
  }
  ASSERT_EQ(atomic_load(&fake.freed), atomic_load(&fake.made));
  ASSERT_EQ(atomic_load(&fake.made), atomic_load(&fake.entered));
  ASSERT_GT(atomic_load(&st.ok) + atomic_load(&st.timedout), 0);
}
END_TEST

static Suite *addr_suite(void)
{
  Suite *s = suite_create("addr");
  TCase *tc = gt_tcase(s, "pure", 60);
  tcase_add_test(tc, test_net_parse);
  tcase_add_test(tc, test_split);
  tcase_add_test(tc, test_split_buffers);
  tcase_add_test(tc, test_parse_ip);
  tcase_add_test(tc, test_parse_zone);
  tcase_add_test(tc, test_parse_long);
  tcase_add_test(tc, test_parse_unix);
  tcase_add_test(tc, test_format_unix_raw);
  tcase_add_test(tc, test_format_roundtrip);
  tcase_add_test(tc, test_invalid);

  tc = gt_tcase(s, "resolve", 120);
  tcase_add_loop_test(tc, test_resolve_literal, 0, 2);
  tcase_add_loop_test(tc, test_resolve_localhost, 0, 3);
  tcase_add_loop_test(tc, test_resolve_service, 0, 2);
  tcase_add_test(tc, test_resolve_nohost);
  tcase_add_loop_test(tc, test_resolve_fake, 0, 2);
  tcase_add_loop_test(tc, test_resolve_abandon, 0, 2);
  tcase_add_test(tc, test_resolve_cancel);
  tcase_add_loop_test(tc, test_resolve_storm, 0, 2);
  return s;
}

GT_MAIN(addr_suite)
