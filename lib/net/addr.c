/*
 * addr.c - network names and socket addresses with Go's net conventions.
 *
 * What it owns: turning Go-style strings ("tcp4", "[fe80::1%lo]:80",
 * "@abstract") into sockaddrs and back, and the one lookup that may block,
 * getaddrinfo. Everything but gort__addr_resolve is a pure function of its
 * arguments (plus the interface table for IPv6 zones), so the fuzzer can
 * call it directly. The file uses only libc and the public gort_* API: it
 * is compiled into libgort and, unchanged, into tests/check_addr and the
 * fuzz target.
 *
 * Go's rules followed here (net.SplitHostPort, net.Listen, net.Dial):
 *  - split: the port follows the last ':'; a bracketed host must be
 *    followed directly by ":port"; an unbracketed host holds no ':'; stray
 *    brackets are errors. The port may be empty (port 0).
 *  - port: optional sign and decimal digits (Go's parsePort: "+80", "0080"
 *    and "-0" are numbers), then 0-65535; anything else is a service name.
 *  - an empty host is the wildcard when listening ("::" for "tcp"/"udp",
 *    as Go listens dual-stack) and the loopback when dialling.
 *  - an IPv4-mapped literal (::ffff:1.2.3.4) is an IPv4 address: AF_INET
 *    for "tcp"/"tcp4", refused by "tcp6", printed dotted as Go's IP.String.
 *  - IPv6 text is formatted by RFC 5952 as Go does (not by inet_ntop, which
 *    prints the deprecated ::a.b.c.d form dotted).
 * Deviations: a zone must name an interface or be decimal (Go maps an
 * unknown zone to scope 0 silently), and a host with ':' or '%' that is not
 * an IPv6 literal is GORT_EINVAL at once instead of a failed lookup.
 *
 * Resolution: getaddrinfo cannot be interrupted, yet the caller's deadline
 * and cancellation must be honoured. So the lookup runs in a detached
 * goroutine that calls it through gort_blocking, on a heap job with two
 * references (caller and worker). The caller waits on the job's semaphore
 * with its deadline; whoever drops the last reference frees the job, its
 * semaphore and the addrinfo list. An abandoned lookup therefore finishes
 * on its own and cleans up after itself. Invariant: a side touches the
 * semaphore only while it holds its reference, so it is never freed under
 * a release or an acquire.
 *
 * Deadlines apply to lookups only: a literal resolves whatever the deadline
 * (no lookup, nothing to wait for). When a lookup is needed, deadline 0
 * gives GORT_EAGAIN and a past deadline GORT_ETIMEDOUT without starting
 * one (a lookup abandoned at once would only cost a thread), and so does a
 * goroutine already cancelled (GORT_ECANCELED).
 *
 * Rejected: waiting on the blocking pool directly (gort_blocking is not
 * cancellable, so a deadline could not be honoured); a pthread per lookup
 * (unbounded threads, and no parking for the goroutine); a gort_chan for
 * the signal (works too, but the semaphore is all that is needed and has
 * no element copy or close protocol); getaddrinfo_a (glibc only, signals).
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <gort.h>

#include "net/addr.h"

#if defined(__linux__)
#define ABSTRACT_UNIX 1 /* "@name": Linux's abstract namespace */
#else
#define ABSTRACT_UNIX 0
#endif

enum {
  HOSTMAX = 1025, /* NI_MAXHOST: any longer host is malformed */
  PORTMAX = 32,   /* NI_MAXSERV */
  TEXTMAX = 256,  /* the longest formatted address, with its NUL */
};

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)
#define SUN_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* ---- networks ----------------------------------------------------------- */

static const struct netname {
  const char *name;
  gort__netinfo info;
} nets[] = {
    {"tcp", {AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP}},
    {"tcp4", {AF_INET, SOCK_STREAM, IPPROTO_TCP}},
    {"tcp6", {AF_INET6, SOCK_STREAM, IPPROTO_TCP}},
    {"udp", {AF_UNSPEC, SOCK_DGRAM, IPPROTO_UDP}},
    {"udp4", {AF_INET, SOCK_DGRAM, IPPROTO_UDP}},
    {"udp6", {AF_INET6, SOCK_DGRAM, IPPROTO_UDP}},
    {"unix", {AF_UNIX, SOCK_STREAM, 0}},
    {"unixgram", {AF_UNIX, SOCK_DGRAM, 0}},
};

int gort__net_parse(const char *network, gort__netinfo *out)
{
  if (network == NULL || out == NULL)
    return GORT_EINVAL;
  for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
    if (strcmp(network, nets[i].name) == 0) {
      *out = nets[i].info;
      return 0;
    }
  }
  return GORT_EINVAL;
}

static bool is_ip(const gort__netinfo *n)
{
  return n->family == AF_UNSPEC || n->family == AF_INET ||
         n->family == AF_INET6;
}

/* ---- host:port ---------------------------------------------------------- */

typedef struct span {
  const char *p;
  size_t len;
} span;

static bool has(const char *p, size_t len, char c)
{
  return len > 0 && memchr(p, c, len) != NULL;
}

/* Go's SplitHostPort on a length-delimited string. */
static int split(const char *a, size_t alen, span *host, span *port)
{
  size_t i = alen;
  while (i > 0 && a[i - 1] != ':')
    i--;
  if (i == 0)
    return GORT_EINVAL; /* missing port */
  i--;                  /* the last ':' */
  size_t j = 0, k = 0;  /* where stray brackets are looked for */
  if (a[0] == '[') {
    const char *end = memchr(a, ']', alen);
    if (end == NULL)
      return GORT_EINVAL; /* missing ']' */
    size_t e = (size_t)(end - a);
    if (e + 1 != i)
      return GORT_EINVAL; /* "]" not followed by the last ":port" */
    host->p = a + 1;
    host->len = e - 1;
    j = 1;
    k = e + 1;
  } else {
    host->p = a;
    host->len = i;
    if (has(a, i, ':'))
      return GORT_EINVAL; /* too many colons */
  }
  if (has(a + j, alen - j, '[') || has(a + k, alen - k, ']'))
    return GORT_EINVAL;
  port->p = a + i + 1;
  port->len = alen - i - 1;
  return 0;
}

static int copy_span(span s, char *buf, size_t len)
{
  if (s.len >= len)
    return GORT_EINVAL;
  memcpy(buf, s.p, s.len);
  buf[s.len] = '\0';
  return 0;
}

int gort__addr_split(const char *address, char *host, size_t hostlen,
                     char *port, size_t portlen)
{
  if (host != NULL && hostlen > 0)
    host[0] = '\0';
  if (port != NULL && portlen > 0)
    port[0] = '\0';
  if (address == NULL || host == NULL || hostlen == 0 || port == NULL ||
      portlen == 0)
    return GORT_EINVAL;
  span h, p;
  int rc = split(address, strlen(address), &h, &p);
  if (rc == 0)
    rc = copy_span(h, host, hostlen);
  if (rc == 0)
    rc = copy_span(p, port, portlen);
  if (rc != 0) {
    host[0] = '\0';
    port[0] = '\0';
  }
  return rc;
}

/* Go's parsePort: 0 with *port set, GORT_EAGAIN for a service name,
 * GORT_EINVAL out of range. */
static int parse_port(span s, int *port)
{
  size_t i = 0;
  bool neg = false;
  *port = 0;
  if (s.len > 0 && (s.p[0] == '+' || s.p[0] == '-')) {
    neg = s.p[0] == '-';
    i = 1;
  }
  uint32_t v = 0;
  bool big = false;
  for (; i < s.len; i++) {
    if (s.p[i] < '0' || s.p[i] > '9')
      return GORT_EAGAIN;
    if (!big) {
      v = v * 10 + (uint32_t)(s.p[i] - '0');
      big = v > 65535;
    }
  }
  if (big || (neg && v != 0))
    return GORT_EINVAL;
  *port = (int)v;
  return 0;
}

/* ---- literals ----------------------------------------------------------- */

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};

static bool is_mapped(const uint8_t *b)
{
  return memcmp(b, v4mapped_prefix, sizeof v4mapped_prefix) == 0;
}

static void set_v4(gort__addr *out, const void *ip4, int port)
{
  struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
  memset(out, 0, sizeof *out);
  sin->sin_family = AF_INET;
  sin->sin_port = htons((uint16_t)port);
  memcpy(&sin->sin_addr, ip4, 4);
  out->len = sizeof *sin;
}

static void set_v6(gort__addr *out, const void *ip6, uint32_t scope, int port)
{
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
  memset(out, 0, sizeof *out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons((uint16_t)port);
  memcpy(&sin6->sin6_addr, ip6, 16);
  sin6->sin6_scope_id = scope;
  out->len = sizeof *sin6;
}

/* An IPv6 zone: an interface name (looked up first, as Go does) or a
 * decimal index. */
static int parse_zone(const char *z, uint32_t *scope)
{
  if (*z == '\0')
    return GORT_EINVAL;
  unsigned idx = if_nametoindex(z);
  if (idx != 0) {
    *scope = idx;
    return 0;
  }
  uint64_t v = 0;
  for (const char *p = z; *p; p++) {
    if (*p < '0' || *p > '9')
      return GORT_EINVAL;
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > UINT32_MAX)
      return GORT_EINVAL;
  }
  *scope = (uint32_t)v;
  return 0;
}

/* The host part for an IP network, NUL-terminated: 0 with *out set,
 * GORT_EAGAIN for a name, GORT_EINVAL, GORT_EAFNOSUPPORT. */
static int parse_host(const gort__netinfo *n, char *host, bool passive,
                      int port, gort__addr *out)
{
  int fam = n->family;
  uint8_t b[16];
  if (host[0] == '\0') {
    if (fam == AF_INET || (fam == AF_UNSPEC && !passive)) {
      uint32_t a = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
      set_v4(out, &a, port);
    } else {
      set_v6(out, passive ? &in6addr_any : &in6addr_loopback, 0, port);
    }
    return 0;
  }
  char *pct = strrchr(host, '%');
  if (pct == NULL && inet_pton(AF_INET, host, b) == 1) {
    if (fam == AF_INET6)
      return GORT_EAFNOSUPPORT;
    set_v4(out, b, port);
    return 0;
  }
  if (pct != NULL)
    *pct = '\0';
  int ok = inet_pton(AF_INET6, host, b);
  if (pct != NULL)
    *pct = '%';
  if (ok != 1) /* ':' or '%' cannot be in a name: a bad literal */
    return pct != NULL || strchr(host, ':') ? GORT_EINVAL : GORT_EAGAIN;
  uint32_t scope = 0;
  if (pct != NULL && parse_zone(pct + 1, &scope) != 0)
    return GORT_EINVAL;
  if (is_mapped(b)) { /* Go: an IPv4 address; the zone goes */
    if (fam == AF_INET6)
      return GORT_EAFNOSUPPORT;
    set_v4(out, b + 12, port);
    return 0;
  }
  if (fam == AF_INET)
    return GORT_EAFNOSUPPORT;
  set_v6(out, b, scope, port);
  return 0;
}

/* ---- parse -------------------------------------------------------------- */

static int parse_unix(const char *path, gort__addr *out)
{
  struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
  size_t len = strlen(path);
  memset(out, 0, sizeof *out);
  un->sun_family = AF_UNIX;
  if (ABSTRACT_UNIX && path[0] == '@') {
    if (len > SUN_MAX)
      return GORT_EINVAL;
    memcpy(un->sun_path + 1, path + 1, len - 1); /* sun_path[0] stays 0 */
    out->len = (socklen_t)(SUN_OFF + len);
    return 0;
  }
  if (len >= SUN_MAX) /* room for the NUL */
    return GORT_EINVAL;
  memcpy(un->sun_path, path, len);
  out->len = (socklen_t)(SUN_OFF + (len > 0 ? len + 1 : 0));
  return 0;
}

/* What an IP address string asks for, kept for the lookup. */
typedef struct ipparts {
  char host[HOSTMAX];
  char port[PORTMAX]; /* "" when the port is numeric */
  int portnum;
  int hostrc; /* parse_host's answer: 0 or GORT_EAGAIN */
} ipparts;

static int parse_ip(const gort__netinfo *n, const char *address, bool passive,
                    gort__addr *out, ipparts *ip)
{
  span h, p;
  int rc = split(address, strlen(address), &h, &p);
  if (rc != 0)
    return rc;
  if (copy_span(h, ip->host, sizeof ip->host) != 0)
    return GORT_EINVAL;
  ip->port[0] = '\0';
  int prc = parse_port(p, &ip->portnum);
  if (prc == GORT_EINVAL)
    return prc;
  if (prc == GORT_EAGAIN && copy_span(p, ip->port, sizeof ip->port) != 0)
    return GORT_EINVAL;
  ip->hostrc = parse_host(n, ip->host, passive, ip->portnum, out);
  if (ip->hostrc != 0 && ip->hostrc != GORT_EAGAIN)
    return ip->hostrc;
  if (ip->hostrc != 0 || prc != 0) {
    memset(out, 0, sizeof *out);
    return GORT_EAGAIN;
  }
  return 0;
}

static int parse_any(const gort__netinfo *n, const char *address, bool passive,
                     gort__addr *out, ipparts *ip)
{
  if (n == NULL || address == NULL || out == NULL)
    return GORT_EINVAL;
  memset(out, 0, sizeof *out);
  if (n->family == AF_UNIX)
    return parse_unix(address, out);
  if (!is_ip(n))
    return GORT_EINVAL;
  return parse_ip(n, address, passive, out, ip);
}

int gort__addr_parse(const gort__netinfo *n, const char *address, bool passive,
                     gort__addr *out)
{
  ipparts ip;
  return parse_any(n, address, passive, out, &ip);
}

/* ---- resolve ------------------------------------------------------------ */

typedef struct job {
  _Atomic int refs; /* the caller's and the worker's */
  gort_sema *done;  /* released once the results are in */
  int rc;           /* gort_blocking's answer */
  int gai;          /* getaddrinfo's */
  struct addrinfo *res;
  struct addrinfo hints;
  bool hostname; /* else only the service is looked up */
  char host[HOSTMAX];
  char port[PORTMAX];
} job;

/* The caller must hold one of the references. */
static void job_unref(job *j)
{
  int left = atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel);
  assert(left >= 1 && left <= 2);
  if (left != 1)
    return;
  if (j->res != NULL)
    freeaddrinfo(j->res);
  gort_sema_free(j->done);
  free(j);
}

/* On a blocking-pool thread. */
static void lookup(void *arg)
{
  job *j = arg;
  j->gai = getaddrinfo(j->hostname ? j->host : NULL,
                       j->port[0] != '\0' ? j->port : NULL, &j->hints, &j->res);
}

/* The detached goroutine: it alone may wait for getaddrinfo to end. */
static void worker(void *arg)
{
  job *j = arg;
  j->rc = gort_blocking(lookup, j);
  gort_sema_release(j->done);
  job_unref(j);
}

static int gai_code(int gai)
{
  switch (gai) {
  case EAI_MEMORY:
    return GORT_ENOMEM;
  case EAI_SERVICE:
  case EAI_SOCKTYPE:
  case EAI_FAMILY:
  case EAI_BADFLAGS:
    return GORT_EINVAL;
  default: /* EAI_NONAME, EAI_NODATA, EAI_FAIL, EAI_AGAIN, EAI_SYSTEM */
    return GORT_ENOHOST;
  }
}

static int port_of(const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* Copies the results of a name lookup: IPv4 first, no duplicates. */
static int collect(const job *j, int fam, const ipparts *ip, gort__addr *out,
                   int max)
{
  static const int order[2] = {AF_INET, AF_INET6};
  int n = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (const struct addrinfo *ai = j->res; ai != NULL && n < max;
         ai = ai->ai_next) {
      if ((fam != AF_UNSPEC && fam != order[pass]) || ai->ai_addr == NULL ||
          ai->ai_family != order[pass] ||
          ai->ai_addr->sa_family != order[pass] ||
          ai->ai_addrlen > sizeof out[n].ss)
        continue;
      gort__addr a;
      memset(&a, 0, sizeof a);
      memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
      a.len = ai->ai_addrlen;
      if (ip->port[0] == '\0') { /* numeric port: not given to getaddrinfo */
        if (pass == 0)
          ((struct sockaddr_in *)&a.ss)->sin_port =
              htons((uint16_t)ip->portnum);
        else
          ((struct sockaddr_in6 *)&a.ss)->sin6_port =
              htons((uint16_t)ip->portnum);
      }
      bool dup = false;
      for (int i = 0; i < n && !dup; i++)
        dup = out[i].len == a.len && memcmp(&out[i].ss, &a.ss, a.len) == 0;
      if (!dup)
        out[n++] = a;
    }
  }
  return n > 0 ? n : GORT_ENOHOST;
}

/* The answer once the job is done. */
static int finish(const job *j, const gort__netinfo *n, ipparts *ip,
                  bool passive, gort__addr *out, int max)
{
  if (j->rc != 0)
    return j->rc; /* the worker was cancelled: the scheduler is going */
  if (j->gai != 0)
    return gai_code(j->gai);
  if (j->hostname)
    return collect(j, n->family, ip, out, max);
  /* Only the service was a name: its number, then the host as parsed. */
  for (const struct addrinfo *ai = j->res; ai != NULL; ai = ai->ai_next) {
    if (ai->ai_addr == NULL ||
        (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
      continue;
    int rc = parse_host(n, ip->host, passive, port_of(ai->ai_addr), out);
    return rc == 0 ? 1 : rc;
  }
  return GORT_ENOHOST;
}

static job *job_new(const gort__netinfo *n, const ipparts *ip, bool passive)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return NULL;
  if (gort_sema_new(&j->done, 0) != 0) {
    free(j);
    return NULL;
  }
  atomic_init(&j->refs, 2);
  j->hostname = ip->hostrc == GORT_EAGAIN;
  memcpy(j->host, ip->host, strlen(ip->host) + 1);
  memcpy(j->port, ip->port, strlen(ip->port) + 1);
  j->hints.ai_family = n->family;
  j->hints.ai_socktype = n->socktype;
  j->hints.ai_protocol = n->protocol;
  j->hints.ai_flags = passive ? AI_PASSIVE : 0; /* no AI_ADDRCONFIG: the
                                                   loopback works offline */
  return j;
}

int gort__addr_resolve(const gort__netinfo *n, const char *address,
                       bool passive, gort__addr *out, int max, int64_t deadline)
{
  if (n == NULL || address == NULL || out == NULL || max < 1)
    return GORT_EINVAL;
  ipparts ip;
  int rc = parse_any(n, address, passive, out, &ip);
  if (rc != GORT_EAGAIN)
    return rc == 0 ? 1 : rc;
  if (deadline == 0)
    return GORT_EAGAIN;
  if (deadline != GORT_NEVER && deadline <= gort_now())
    return GORT_ETIMEDOUT;
  gort_g *self = gort_self();
  if (self != NULL && gort_g_cancelled(self))
    return GORT_ECANCELED;
  job *j = job_new(n, &ip, passive);
  if (j == NULL)
    return GORT_ENOMEM;
  rc = gort_go(worker, j);
  if (rc != 0) {
    atomic_store(&j->refs, 1); /* no worker */
    job_unref(j);
    return rc;
  }
  rc = gort_sema_acquire(j->done, deadline);
  if (rc == 0)
    rc = finish(j, n, &ip, passive, out, max);
  job_unref(j); /* on a timeout the worker frees the job when it ends */
  return rc;
}

/* ---- format ------------------------------------------------------------- */

static int fmt_v4(const uint8_t *b, char *p)
{
  return sprintf(p, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
}

/* RFC 5952, as Go's IP.String: the longest run of two or more zero groups
 * (the first of equals) becomes "::"; mapped addresses print dotted. */
static int fmt_v6(const uint8_t *b, char *p)
{
  if (is_mapped(b))
    return fmt_v4(b + 12, p);
  int zs = -1, zl = 0;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && b[2 * j] == 0 && b[2 * j + 1] == 0)
      j++;
    if (j - i > zl && j - i >= 2) {
      zs = i;
      zl = j - i;
    }
    i = j > i ? j : i + 1;
  }
  char *s = p;
  for (int i = 0; i < 8; i++) {
    if (i == zs) {
      s += sprintf(s, "::");
      i += zl - 1;
      continue;
    }
    if (i > 0 && i != zs + zl)
      *s++ = ':';
    s += sprintf(s, "%x", (unsigned)(b[2 * i] << 8 | b[2 * i + 1]));
  }
  *s = '\0';
  return (int)(s - p);
}

static int fmt_unix(const gort__addr *a, char *t)
{
  const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
  size_t n = a->len - SUN_OFF;
  if (n == 0)
    return 0; /* unnamed */
  if (ABSTRACT_UNIX && un->sun_path[0] == '\0') {
    t[0] = '@';
    memcpy(t + 1, un->sun_path + 1, n - 1);
    return (int)n;
  }
  n = strnlen(un->sun_path, n);
  memcpy(t, un->sun_path, n);
  return (int)n;
}

static int fmt(const gort__addr *a, char *t)
{
  const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
  if (a->len > sizeof a->ss)
    return GORT_EINVAL;
  switch (sa->sa_family) {
  case AF_INET: {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    if (a->len < sizeof *sin)
      return GORT_EINVAL;
    int k = fmt_v4((const uint8_t *)&sin->sin_addr, t);
    return k + sprintf(t + k, ":%u", ntohs(sin->sin_port));
  }
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    if (a->len < sizeof *sin6)
      return GORT_EINVAL;
    const uint8_t *b = (const uint8_t *)&sin6->sin6_addr;
    char ip[64], zone[IF_NAMESIZE + 12] = "";
    fmt_v6(b, ip);
    if (sin6->sin6_scope_id != 0) {
      char name[IF_NAMESIZE];
      if (if_indextoname(sin6->sin6_scope_id, name) != NULL)
        snprintf(zone, sizeof zone, "%%%s", name);
      else
        snprintf(zone, sizeof zone, "%%%u", (unsigned)sin6->sin6_scope_id);
    }
    /* Go's JoinHostPort brackets only a host with ':' (not mapped v4). */
    const char *l = is_mapped(b) ? "" : "[", *r = is_mapped(b) ? "" : "]";
    return sprintf(t, "%s%s%s%s:%u", l, ip, zone, r, ntohs(sin6->sin6_port));
  }
  case AF_UNIX:
    if (a->len < SUN_OFF || a->len > sizeof(struct sockaddr_un))
      return GORT_EINVAL;
    return fmt_unix(a, t);
  default:
    return GORT_EINVAL;
  }
}

int gort__addr_format(const gort__addr *a, char *buf, size_t len)
{
  if (buf == NULL || len == 0)
    return GORT_EINVAL;
  buf[0] = '\0';
  if (a == NULL)
    return GORT_EINVAL;
  char t[TEXTMAX];
  int n = fmt(a, t);
  if (n < 0 || (size_t)n >= len)
    return GORT_EINVAL;
  memcpy(buf, t, (size_t)n);
  buf[n] = '\0';
  return n;
}
