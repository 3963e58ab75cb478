/*
 * fuzz_addr.c - libFuzzer target for lib/net/addr.c's pure functions
 * (tests/fuzz/run.sh builds and runs it).
 *
 * Input: "network\naddress", or, without a newline, a selector byte that
 * picks the network followed by the address. Every call must return one of
 * its documented codes, never touch memory it was not given, and:
 *  - split: the host and port rejoined (bracketed when the host holds ':')
 *    split back to the same two strings; smaller buffers fail exactly when
 *    a part does not fit, leaving both buffers "";
 *  - parse: a success has the network's family and that family's length;
 *    its text re-parses to the same bytes and formats to the same text
 *    (the text is canonical); every buffer too small fails with "";
 *  - format of arbitrary sockaddr bytes never overruns.
 * gort__addr_resolve is never called: it would do lookups.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <gort.h>

#include "net/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const nets[] = {"tcp",  "tcp4", "tcp6", "udp",
                                   "udp4", "udp6", "unix", "unixgram"};
#define NNETS (sizeof nets / sizeof nets[0])

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);    \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static char *dup_bytes(const uint8_t *p, size_t n)
{
  char *s = malloc(n + 1); /* exactly sized: ASan sees any over-read */
  CHECK(s != NULL);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static void check_split(const char *a)
{
  char host[2048], port[2048];
  int rc = gort__addr_split(a, host, sizeof host, port, sizeof port);
  CHECK(rc == 0 || rc == GORT_EINVAL);
  if (rc != 0) {
    CHECK(host[0] == '\0' && port[0] == '\0');
    return;
  }
  size_t hl = strlen(host), pl = strlen(port);
  /* JoinHostPort, then split again */
  char *j = malloc(hl + pl + 4);
  CHECK(j != NULL);
  if (strchr(host, ':'))
    sprintf(j, "[%s]:%s", host, port);
  else
    sprintf(j, "%s:%s", host, port);
  char h2[2048], p2[2048];
  CHECK(gort__addr_split(j, h2, sizeof h2, p2, sizeof p2) == 0);
  CHECK(strcmp(h2, host) == 0 && strcmp(p2, port) == 0);
  free(j);
  /* buffers of every size around the parts' */
  for (size_t hs = hl; hs <= hl + 1; hs++) {
    for (size_t ps = pl; ps <= pl + 1; ps++) {
      char *hb = malloc(hs + 1), *pb = malloc(ps + 1);
      CHECK(hb != NULL && pb != NULL);
      int r = gort__addr_split(a, hb, hs, pb, ps);
      bool fits = hs > hl && ps > pl;
      CHECK(r == (fits ? 0 : GORT_EINVAL));
      if (fits)
        CHECK(strcmp(hb, host) == 0 && strcmp(pb, port) == 0);
      else
        CHECK((hs == 0 || hb[0] == '\0') && (ps == 0 || pb[0] == '\0'));
      free(hb);
      free(pb);
    }
  }
}

static void check_format_sizes(const gort__addr *a, const char *text, int len)
{
  for (size_t sz = 0; sz <= (size_t)len + 1; sz++) {
    char *b = malloc(sz ? sz : 1);
    CHECK(b != NULL);
    int rc = gort__addr_format(a, b, sz);
    if (sz == (size_t)len + 1) {
      CHECK(rc == len && memcmp(b, text, (size_t)len + 1) == 0);
    } else {
      CHECK(rc == GORT_EINVAL);
      CHECK(sz == 0 || b[0] == '\0');
    }
    free(b);
  }
}

static void check_parse(const gort__netinfo *n, const char *a, bool passive)
{
  gort__addr x;
  int rc = gort__addr_parse(n, a, passive, &x);
  CHECK(rc == 0 || rc == GORT_EAGAIN || rc == GORT_EINVAL ||
        rc == GORT_EAFNOSUPPORT);
  if (rc == GORT_EAGAIN) { /* only IP networks look names up */
    char h[2048], p[2048];
    CHECK(n->family != AF_UNIX);
    CHECK(gort__addr_split(a, h, sizeof h, p, sizeof p) == 0);
  }
  if (rc == GORT_EAFNOSUPPORT)
    CHECK(n->family == AF_INET || n->family == AF_INET6);
  if (rc != 0)
    return;
  int fam = x.ss.ss_family;
  switch (n->family) {
  case AF_UNSPEC:
    CHECK(fam == AF_INET || fam == AF_INET6);
    break;
  default:
    CHECK(fam == n->family);
  }
  if (fam == AF_INET)
    CHECK(x.len == sizeof(struct sockaddr_in));
  else if (fam == AF_INET6)
    CHECK(x.len == sizeof(struct sockaddr_in6));
  else
    CHECK(x.len >= offsetof(struct sockaddr_un, sun_path) &&
          x.len <= sizeof(struct sockaddr_un));

  char text[512];
  int len = gort__addr_format(&x, text, sizeof text);
  CHECK(len >= 0 && (size_t)len == strlen(text));
  check_format_sizes(&x, text, len);

  gort__addr y;
  CHECK(gort__addr_parse(n, text, passive, &y) == 0);
  CHECK(y.len == x.len && memcmp(&y.ss, &x.ss, x.len) == 0);
  char text2[512];
  CHECK(gort__addr_format(&y, text2, sizeof text2) == len);
  CHECK(strcmp(text, text2) == 0);
}

/* Arbitrary bytes as a sockaddr: format must stay inside its buffers. */
static void check_raw(const uint8_t *data, size_t size)
{
  if (size < 3)
    return;
  static const int fams[] = {AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC};
  gort__addr a;
  memset(&a, 0, sizeof a);
  size_t n = size - 2 < sizeof a.ss ? size - 2 : sizeof a.ss;
  memcpy(&a.ss, data + 2, n);
  a.ss.ss_family = (sa_family_t)fams[data[0] % 4];
  a.len = (socklen_t)(data[1] % (sizeof a.ss + 8));
  if (a.ss.ss_family == AF_INET6 && a.len >= sizeof(struct sockaddr_in6))
    ((struct sockaddr_in6 *)&a.ss)->sin6_scope_id %= 4; /* few if lookups */
  char buf[300];
  int rc = gort__addr_format(&a, buf, sizeof buf);
  CHECK(rc == GORT_EINVAL || (rc >= 0 && (size_t)rc < sizeof buf));
  if (rc == GORT_EINVAL)
    CHECK(buf[0] == '\0');
  char small[8];
  rc = gort__addr_format(&a, small, sizeof small);
  CHECK(rc == GORT_EINVAL || (rc >= 0 && (size_t)rc < sizeof small));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0 || size > 4096)
    return 0;
  const uint8_t *nl = memchr(data, '\n', size);
  char *network, *address;
  gort__netinfo n;
  if (nl != NULL) {
    network = dup_bytes(data, (size_t)(nl - data));
    address = dup_bytes(nl + 1, size - (size_t)(nl - data) - 1);
  } else {
    network = dup_bytes((const uint8_t *)nets[data[0] % NNETS],
                        strlen(nets[data[0] % NNETS]));
    address = dup_bytes(data + 1, size - 1);
  }
  int rc = gort__net_parse(network, &n);
  CHECK(rc == 0 || rc == GORT_EINVAL);
  if (rc != 0) /* still parse the address, for a network picked by it */
    CHECK(gort__net_parse(nets[data[size - 1] % NNETS], &n) == 0);

  check_split(address);
  check_parse(&n, address, false);
  check_parse(&n, address, true);
  check_raw(data, size);

  free(network);
  free(address);
  return 0;
}
