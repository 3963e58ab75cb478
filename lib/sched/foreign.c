/*
 * foreign.c - goroutines whose body belongs to another language runtime.
 *
 * libgort names no language: a binding hands a table of plain C function
 * pointers (for CPython, taken from ctypes.pythonapi), and each such
 * goroutine gets its own interpreter thread state around its body. The
 * binding's own foreign-call layer (ctypes releasing the GIL around every
 * gort_* call) keeps that state right across parks, so nothing is done
 * around switches here.
 *
 * Result ownership, one atomic state:
 *   RUNNING -> HAS_RESULT (body done, handle alive) -> TAKEN (gort_foreign_result)
 *   RUNNING -> ORPHAN (handle released first, or detached): the body drops
 *   its own result while it still holds the interpreter state.
 * The record itself belongs to the handle when there is one (freed with
 * it), else to the goroutine (freed as it ends).
 * A result still held when the handle is released is dropped by the
 * releasing thread, which a binding calls from inside its interpreter.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

enum { F_RUNNING = 0, F_HAS_RESULT = 1, F_TAKEN = 2, F_ORPHAN = 3 };

static void foreign_body(void *arg)
{
  gort__foreign *f = arg;
  gort__g *g = gort__getg();
  const gort_foreign_vt *vt = &f->vt;
  void *rt = vt->runtime ? vt->runtime() : NULL;
  void *st = vt->state_new(rt);
  void *res;
  int e = F_RUNNING;

  if (vt->state_set_stack)
    vt->state_set_stack(st, g->stack_lo, g->stack_size);
  vt->state_enter(st);
  res = vt->call(f->callable, f->args);
  if (!res && vt->report)
    vt->report(f->callable);
  f->result = res;
  if (!atomic_compare_exchange_strong(&f->state, &e, F_HAS_RESULT)) {
    f->result = NULL;
    if (res)
      vt->drop(res);
  }
  if (f->callable)
    vt->drop(f->callable);
  if (f->args)
    vt->drop(f->args);
  if (vt->state_clear)
    vt->state_clear(st);
  vt->state_leave();
  vt->state_delete(st);
}

GORT_API int gort_foreign_spawn(gort_sched *h, gort_lane *lane,
                                const gort_foreign_vt *vt, void *callable,
                                void *args, size_t stack_size, gort_g **out)
{
  gort__sched *s;
  gort__foreign *f;
  size_t n;
  int r;

  if (!vt || vt->size < offsetof(gort_foreign_vt, state_delete) +
                            sizeof(vt->state_delete))
    return GORT_EINVAL;
  if (!vt->state_new || !vt->state_enter || !vt->call || !vt->drop ||
      !vt->state_leave || !vt->state_delete)
    return GORT_EINVAL;
  s = lane ? ((gort__lane *)lane)->sched : gort__sched_get(h);
  if (!s)
    return GORT_ENOMEM;
  f = calloc(1, sizeof *f);
  if (!f)
    return GORT_ENOMEM;
  n = vt->size < sizeof f->vt ? vt->size : sizeof f->vt;
  memcpy(&f->vt, vt, n);
  f->vt.size = sizeof f->vt;
  f->callable = callable;
  f->args = args;
  atomic_store(&f->state, out ? F_RUNNING : F_ORPHAN);
  if (lane) {
    gort__lane *l = (gort__lane *)lane;
    bool closing;
    gort__lock_acquire(&l->lock);
    closing = l->closing;
    gort__lock_release(&l->lock);
    if (closing) {
      free(f);
      return GORT_ECLOSED;
    }
  }
  r = gort__spawn_internal(s, (gort__lane *)lane, f, foreign_body, f,
                           stack_size, out);
  if (r != 0)
    free(f); /* callable and args stay the caller's */
  return r;
}

GORT_API int gort_foreign_result(gort_g *gh, void **result)
{
  gort__handle *h = (gort__handle *)gh;
  gort__foreign *f;
  int e = F_HAS_RESULT;
  if (!h || !result || !h->foreign)
    return GORT_EINVAL;
  f = h->foreign;
  if (atomic_compare_exchange_strong(&f->state, &e, F_TAKEN)) {
    *result = f->result;
    f->result = NULL;
    return 0;
  }
  return e == F_RUNNING ? GORT_EAGAIN : GORT_EINVAL;
}

void gort__foreign_release(gort__foreign *f)
{
  for (;;) {
    int e = atomic_load(&f->state);
    if (e == F_RUNNING) {
      if (atomic_compare_exchange_strong(&f->state, &e, F_ORPHAN))
        return;
    } else if (e == F_HAS_RESULT) {
      if (atomic_compare_exchange_strong(&f->state, &e, F_TAKEN)) {
        if (f->result)
          f->vt.drop(f->result);
        f->result = NULL;
        return;
      }
    } else {
      return;
    }
  }
}
