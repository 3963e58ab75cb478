/*
 * errors.c - error codes, names and messages; the run-time version.
 *
 * One X-macro table (GORT_ERRNO_MAP in gort.h) generates the enum, the
 * messages and the names, so the three can never disagree (libuv's
 * UV_ERRNO_MAP).
 */
#include "config.h"

#include <string.h>

#include "gort.h"

#define GORT_DEFAULT_VISIBILITY GORT_API

GORT_API int gort_version(void)
{
  return GORT_VERSION_NUMBER;
}

GORT_API const char *gort_version_string(void)
{
  return GORT_VERSION_STRING;
}

GORT_API const char *gort_strerror(int err)
{
  switch (err) {
  case 0:
    return "success";
#define X(name, value, msg)                                                    \
  case GORT_##name:                                                            \
    return msg;
    GORT_ERRNO_MAP(X)
#undef X
  default:
#ifdef HAVE_STRERRORDESC_NP
    /* a socket call may pass on any -errno (EPERM, ENOBUFS...): glibc's
     * constant message for it (strerror may use a per-thread buffer) */
    if (err < 0 && err > -4096) {
      const char *d = strerrordesc_np(-err);
      if (d)
        return d;
    }
#endif
    return err < 0 ? "unknown error" : "not an error";
  }
}

GORT_API const char *gort_err_name(int err)
{
  switch (err) {
  case 0:
    return "GORT_OK";
#define X(name, value, msg)                                                    \
  case GORT_##name:                                                            \
    return "GORT_" #name;
    GORT_ERRNO_MAP(X)
#undef X
  default:
    return "GORT_UNKNOWN";
  }
}

GORT_API int gort_err_code(const char *name)
{
  if (!name)
    return 0;
  if (strncmp(name, "GORT_", 5) == 0)
    name += 5;
#define X(n, value, msg)                                                       \
  if (strcmp(name, #n) == 0)                                                   \
    return GORT_##n;
  GORT_ERRNO_MAP(X)
#undef X
  return 0;
}
