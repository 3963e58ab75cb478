/*
 * sysmon.c - the monitor thread (Go's sysmon): runs without a P.
 *
 * It wakes every 20 us while it finds work, backing off to 10 ms when there
 * is nothing to do, and sleeps outright when every P is idle (startm wakes
 * it; it comes back at 1 ms, doubling). Each round it:
 *  - retakes a P whose M has been inside gort_syscall_enter for a sysmon
 *    tick while work waits, or for 10 ms at all;
 *  - retakes a P whose M has run one goroutine for 10 ms without a
 *    scheduling point while other work (its queue, the global queue, a due
 *    timer) waits. The goroutine runs on, P-less; its M finds the P gone at
 *    its next switch and queues or idles. No signals: a goroutine stopped
 *    inside malloc would deadlock its M;
 *  - refreshes the coarse clock parked goroutines stamp their wait with;
 *  - gives back the pages of idle stacks beyond the high-water mark.
 */
#include "config.h"

#include "sched/sched.h"

#define MS (1000 * 1000LL)
#define US (1000LL)

void gort__sysmon_wake(gort__sched *s)
{
  atomic_store_explicit(&s->sysmonnote, 1, memory_order_release);
  gort__os_futex_wake((uint32_t *)&s->sysmonnote, 1);
}

static bool retake_one(gort__sched *s, gort__p *p, int64_t now)
{
  uint64_t v = atomic_load_explicit(&p->state, memory_order_acquire);
  int st = GORT__PSTATE_STATUS(v);
  if (st == GORT__P_SYSCALL) {
    uint32_t t = atomic_load_explicit(&p->syscalltick, memory_order_relaxed);
    if (p->mon_stick != t) {
      p->mon_stick = t;
      p->mon_swhen = now;
      return false;
    }
    if (gort__runqempty(p) &&
        atomic_load(&s->nmspinning) + atomic_load(&s->npidle) > 0 &&
        now - p->mon_swhen < 10 * MS)
      return false;
  } else if (st == GORT__P_USER) {
    uint32_t t = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
    if (p->mon_tick != t) {
      p->mon_tick = t;
      p->mon_when = now;
      return false;
    }
    if (now - p->mon_when < 10 * MS)
      return false;
    if (!gort__p_has_work(s, p) &&
        atomic_load_explicit(&p->timer0, memory_order_acquire) > now)
      return false;
  } else {
    return false;
  }
  if (!atomic_compare_exchange_strong(&p->state, &v,
                                      GORT__PSTATE(0, GORT__P_IDLE)))
    return false;
  p->mon_when = now;
  gort__handoffp(s, p);
  return true;
}

static bool all_idle(gort__sched *s)
{
  return atomic_load(&s->npidle) >= atomic_load(&s->nprocs);
}

static void *sysmon_main(void *arg)
{
  gort__sched *s = arg;
  int64_t delay = 20 * US, last_trim = 0, last_trace = 0;
  int idle = 0;

  gort__os_thread_name("gort-sysmon");
  while (!atomic_load_explicit(&s->dead, memory_order_acquire)) {
    int64_t now;
    int i, n;
    bool did = false;

    if (idle == 0)
      delay = 20 * US;
    else if (idle > 50 && delay < 10 * MS)
      delay *= 2;
    if (gort__schedtrace_period() > 0 && delay > gort__schedtrace_period())
      delay = gort__schedtrace_period();
    gort__os_futex_wait((uint32_t *)&s->sysmonnote, 0,
                        gort__nanotime() + delay);
    atomic_store_explicit(&s->sysmonnote, 0, memory_order_relaxed);
    now = gort__nanotime();
    atomic_store_explicit(&s->coarse_now, now, memory_order_relaxed);
    n = atomic_load(&s->nprocs);
    for (i = 0; i < n; i++)
      did |= retake_one(s, s->allp[i], now);
    /* a due timer nobody sleeps for (its P idle, no poller): start an M
     * for it (Go's sysmon does the same) */
    if (!atomic_load_explicit(&s->polling, memory_order_seq_cst) &&
        gort__timers_earliest(s) < now - 1000 * US) {
      gort__wakep(s);
      did = true;
    }
    /* descriptors nobody has looked at for 10 ms (every M busy running
     * goroutines): poll them from here, readying onto the global queue */
    if (!atomic_load_explicit(&s->polling, memory_order_seq_cst) &&
        now - gort__netpoll_lastpoll(s) > 10 * MS &&
        gort__netpoll_nonblock(s) > 0)
      did = true;
    idle = did ? 0 : idle + 1;
    if (now - last_trim > 100 * MS) {
      gort__stack_trim(s);
      last_trim = now;
    }
    gort__schedtrace_tick(s, now, &last_trace);
    if (all_idle(s) && !atomic_load(&s->dead)) {
      /* nothing runs: sleep until an M starts (gort__startm wakes us) */
      atomic_store(&s->sysmonwait, 1);
      if (all_idle(s)) {
        int64_t nap = gort__schedtrace_period();
        /* schedtrace lines keep coming while idle, as in Go */
        if (nap <= 0 || nap > 1000 * MS)
          nap = 1000 * MS;
        gort__os_futex_wait((uint32_t *)&s->sysmonnote, 0,
                            gort__nanotime() + nap);
      }
      atomic_store(&s->sysmonwait, 0);
      /* Ms just started (or the nap ended): nothing is late yet, so back
       * in at 1 ms, doubling to 10 ms, rather than at 20 us. Resetting
       * to 20 us made a server that idles between bursts wake sysmon
       * ~50 times a burst (4% of its CPU on echo at P=2). The first
       * round that finds work brings the 20 us tick back. */
      idle = 51;
      delay = 500 * US;
    }
  }
  return NULL;
}

int gort__sysmon_start(gort__sched *s)
{
  return gort__os_thread_start(&s->sysmon, sysmon_main, s);
}
