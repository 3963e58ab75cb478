/*
 * addr.h - network names and socket addresses with Go's net conventions
 * (lib/net/addr.c). Pure functions except gort__addr_resolve, which asks
 * getaddrinfo on the blocking pool.
 *
 * Networks: "tcp" "tcp4" "tcp6" "udp" "udp4" "udp6" "unix" "unixgram".
 * Addresses: "host:port" with host an IPv4 literal, a bracketed IPv6
 * literal ("[::1]:80", "[fe80::1%lo]:80"), a name ("localhost:80") or empty
 * (":0": every local address when listening, the loopback when dialling, as
 * Go does); port a decimal 0-65535 or a service name ("http"). For unix
 * networks the address is a path, or "@name" for Linux's abstract namespace.
 */
#ifndef GORT_NET_ADDR_H
#define GORT_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct gort__netinfo {
  int family;   /* AF_UNSPEC (tcp, udp), AF_INET, AF_INET6 or AF_UNIX */
  int socktype; /* SOCK_STREAM or SOCK_DGRAM */
  int protocol; /* IPPROTO_TCP / IPPROTO_UDP / 0 */
} gort__netinfo;

typedef struct gort__addr {
  struct sockaddr_storage ss;
  socklen_t len;
} gort__addr;

/* Parses a network name. GORT_EINVAL for NULL or an unknown name. */
int gort__net_parse(const char *network, gort__netinfo *out);

/* Go's net.SplitHostPort: "h:p", "[h]:p" (h may hold ':' and '%'), ":p".
 * GORT_EINVAL if malformed (missing port, unbalanced brackets, too long). */
int gort__addr_split(const char *address, char *host, size_t hostlen,
                     char *port, size_t portlen);

/* Parses address for network n without any lookup. passive: for listening
 * (an empty host means the wildcard of the family; for "tcp"/"udp" the
 * IPv6 wildcard "::" which also accepts IPv4, as Go). Returns 0 with *out
 * filled; GORT_EAGAIN if the host or port is a name that needs
 * gort__addr_resolve; GORT_EINVAL if malformed (bad literal, port out of
 * range, path too long for sun_path); GORT_EAFNOSUPPORT if the literal's
 * family does not match ("tcp4" with "[::1]:1"). */
int gort__addr_parse(const gort__netinfo *n, const char *address, bool passive,
                     gort__addr *out);

/* gort__addr_parse, and if that says GORT_EAGAIN, getaddrinfo on the
 * blocking pool with the deadline honoured (the lookup is abandoned, not
 * waited for, when the deadline passes or the goroutine is cancelled).
 * Fills up to max addresses (IPv4 first, as Go's dialer prefers them on
 * dual-stack loopback); returns how many (>= 1), or GORT_ENOHOST,
 * GORT_ETIMEDOUT, GORT_ECANCELED, GORT_EINVAL. */
int gort__addr_resolve(const gort__netinfo *n, const char *address,
                       bool passive, gort__addr *out, int max,
                       int64_t deadline);

/* Formats like Go's Addr.String(): "127.0.0.1:80", "[::1]:80",
 * "[fe80::1%eth0]:80", "/path", "@abstract", "" for an unnamed unix socket.
 * Returns the length written (without the NUL), GORT_EINVAL if buf is NULL
 * or too small (then buf holds "" if len > 0), or the family is unknown. */
int gort__addr_format(const gort__addr *a, char *buf, size_t len);

#endif
