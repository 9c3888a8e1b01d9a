// core/parallel.hpp: the project's one place for threads.
//
// parallel_for(begin, end, grain, fn) calls fn(lo, hi) on disjoint chunks that cover
// [begin, end). Work of `grain` items or fewer runs inline on the calling thread, so
// CartPole-sized work never wakes a thread. Chunk boundaries depend only on the range and the
// thread count, never on timing, so a reduction that combines per-chunk partials in chunk order
// (parallel_reduce) gives the same bits for the same thread count.
//
// Trap: fn runs inside an OpenMP region and must not throw (an exception cannot cross it).
// Check inputs before calling parallel_for (or catch inside fn, as parallel_tasks does).
//
// Nesting: a parallel_for called from inside a chunk runs inline (one chunk). That lets a caller
// run independent pieces of work as tasks (the dX and dW GEMMs of a linear backward, the target
// and online forward passes) whose own kernels then stay on their task's thread, whatever
// OMP_MAX_ACTIVE_LEVELS says, and keeps results a function of the thread count alone.
//
// Helping: the one exception. Inside parallel_tasks, a parallel_for_slots whose caller has a
// workspace slice for a second thread (slots_owned >= 2) posts its items, and the other task's
// thread, once done with its own task, takes items from it with slot 1 until they run out. Its
// items are those whose results do not depend on who runs them (parallel_for_slots' contract),
// so only the assignment follows timing, never a bit. Why: the update's two forward passes run
// as two tasks, and on the project's 2-vCPU VMs one pass finishes 0.3-0.5 ms after the other in
// the median round (bench_update's BM_CnnForwardPasses pass:3 against pass:2); the thread done
// first waited that out.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>

namespace dqn {

// Threads used by parallel_for; defaults to 1 (the project's reproducible default). The CLI's
// --threads sets it. Values are clamped to [1, kMaxThreads].
constexpr int kMaxThreads = 64;
void set_num_threads(int threads);
int num_threads();

namespace detail {
// True on a thread while it runs a chunk of a multi-chunk parallel_for (see "Nesting" above).
inline thread_local bool tl_in_chunk = false;

// Sets one of this thread's flags for a scope and restores it after.
class FlagScope {
 public:
  explicit FlagScope(bool& flag) : flag_(flag), saved_(flag) { flag = true; }
  ~FlagScope() { flag_ = saved_; }
  FlagScope(const FlagScope&) = delete;
  FlagScope& operator=(const FlagScope&) = delete;

 private:
  bool& flag_;
  bool saved_;
};
}  // namespace detail

// True inside a chunk of a multi-chunk parallel_for: nested parallel_for calls run inline.
inline bool in_parallel_chunk() {
  return detail::tl_in_chunk;
}

// Threads a parallel_for called here could use: 1 inside a chunk, else num_threads(). Kernels
// that choose between strategies by thread count ask this, not num_threads().
inline int available_threads() {
  return detail::tl_in_chunk ? 1 : num_threads();
}

// How many chunks parallel_for would use for n items at this grain (1 inside a chunk).
inline std::int64_t parallel_chunks(std::int64_t n, std::int64_t grain) {
  if (n <= 0) return 0;
  if (detail::tl_in_chunk) return 1;
  const std::int64_t by_grain =
      (n + std::max<std::int64_t>(grain, 1) - 1) / std::max<std::int64_t>(grain, 1);
  return std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads(), by_grain));
}

namespace detail {
// The threads [begin, end) at `grain` splits over, or 0 after running fn(begin, end) inline when
// it is one chunk (or nothing when it is empty): the start parallel_for and _pieces share.
template <class Fn>
std::int64_t threads_or_inline(std::int64_t begin, std::int64_t end, std::int64_t grain, Fn& fn) {
  const std::int64_t chunks = parallel_chunks(end - begin, grain);
  if (chunks == 1) fn(begin, end);
  return chunks > 1 ? chunks : 0;
}
}  // namespace detail

template <class Fn>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, Fn&& fn) {
  const std::int64_t n = end - begin;
  const std::int64_t chunks = detail::threads_or_inline(begin, end, grain, fn);
  if (chunks == 0) return;
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static, 1)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const detail::FlagScope in_chunk(detail::tl_in_chunk);
    fn(begin + n * c / chunks, begin + n * (c + 1) / chunks);
  }
}

// parallel_for for work in which no element's result depends on which call computes it
// (element-wise kernels): [begin, end) is cut into up to kPiecesPerThread pieces per thread,
// boundaries multiples of `align` from begin, and threads take pieces as they come free
// (OpenMP's dynamic schedule). The boundaries depend only on the range, the grain and the thread
// count, as parallel_for's do; only which thread runs which piece depends on timing, and for
// such work that cannot change a bit. Why: on the project's 2-vCPU VMs the second vCPU ran the
// same memory-bound half of Adam 1.5x (alone, bench_adam, 1.69M parameters) to 2.4x (inside
// the Nature CNN's update) longer than the first, and an even static split waited on it.
// Not for reductions whose partials would then follow the piece count.
inline constexpr std::int64_t kPiecesPerThread = 8;

template <class Fn>
void parallel_for_pieces(std::int64_t begin, std::int64_t end, std::int64_t grain,
                         std::int64_t align, Fn&& fn) {
  const std::int64_t n = end - begin;
  const std::int64_t chunks = detail::threads_or_inline(begin, end, grain, fn);
  if (chunks == 0) return;
  const std::int64_t pieces =
      std::min(chunks * kPiecesPerThread, std::max<std::int64_t>(n / align, 1));
  const auto bound = [=](std::int64_t p) {
    return p == pieces ? end : begin + n * p / pieces / align * align;
  };
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(dynamic, 1)
  for (std::int64_t p = 0; p < pieces; ++p) {
    const detail::FlagScope in_chunk(detail::tl_in_chunk);
    fn(bound(p), bound(p + 1));
  }
}

namespace detail {
// Items posted for the other task's thread to help with (see "Helping" at the top).
struct HelpJob {
  std::atomic<std::int64_t> next{0};
  std::int64_t items = 0;
  void (*run)(void* fn, std::int64_t item, std::int64_t slot) = nullptr;
  void* fn = nullptr;
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // the helper's, if an item threw there (set once, under `failed`)
};
// The two tasks of one parallel_tasks region. A task's thread posts a job in posted[t] while its
// own thread runs items of it; the other thread, done with its task, takes items of a posted job
// between helping[t]++ and helping[t]--. The owner takes the job down and then waits for
// helping[t] to be 0 before its job (on its stack) goes: a helper that came in before the take-
// down is waited for, one that comes in after it reads nullptr (sequentially consistent order).
struct TaskPair {
  std::atomic<HelpJob*> posted[2] = {nullptr, nullptr};
  std::atomic<int> helping[2] = {0, 0};
  std::atomic<bool> done[2] = {false, false};
};
// Threads of the OpenMP team this thread is in (1 outside a region).
int team_threads();
inline thread_local TaskPair* tl_pair = nullptr;  // the region this thread runs a task of
inline thread_local int tl_task = 0;              // which of its two tasks
inline thread_local bool tl_in_item = false;      // running an item of a helped job

// Waiting for the other thread: spins (the wait is usually tens of microseconds), then yields
// between looks, so that where the two threads share one CPU (other work on the machine, ctest
// -j2) the one spinning does not keep the other from running. (65,536 spins before yielding made
// 400 small regions take 3.4 s instead of 0.1 s on a VM whose two vCPUs a build kept busy.)
inline void wait_a_little(std::int64_t looks) {
  if (looks < 4096) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

// Items of job j, as many as this thread gets, with `slot`. Never throws: the first item's
// exception (either thread's) is kept in j->error, for the owner to rethrow.
inline void take_items(HelpJob* j, std::int64_t slot) {
  const FlagScope in_item(tl_in_item);
  try {
    for (std::int64_t i = j->next++; i < j->items; i = j->next++) j->run(j->fn, i, slot);
  } catch (...) {
    if (!j->failed.exchange(true)) j->error = std::current_exception();
    j->next = j->items;  // the owner stops taking items too
  }
}

// The thread of task t, done with it: help the other task's posted jobs until it is done too.
inline void help_until_done(TaskPair& p, int t) {
  const int o = 1 - t;
  for (std::int64_t looks = 0; !p.done[o].load(); ++looks) {
    if (p.posted[o].load() != nullptr) {
      p.helping[o].fetch_add(1);
      if (HelpJob* j = p.posted[o].load()) take_items(j, 1);
      p.helping[o].fetch_sub(1);
      looks = 0;
    } else {
      wait_a_little(looks);
    }
  }
}

// parallel_for_slots' items on this task's thread with slot 0, posted for the other task's
// thread to join with slot 1.
template <class Fn>
void run_helped(std::int64_t items, Fn& fn) {
  HelpJob job;
  job.items = items;
  job.fn = const_cast<void*>(static_cast<const void*>(&fn));  // Fn may be a const lambda
  job.run = [](void* f, std::int64_t i, std::int64_t slot) { (*static_cast<Fn*>(f))(i, slot); };
  TaskPair& p = *tl_pair;
  const int t = tl_task;
  p.posted[t].store(&job);
  take_items(&job, 0);
  p.posted[t].store(nullptr);
  for (std::int64_t looks = 0; p.helping[t].load() != 0; ++looks) wait_a_little(looks);
  if (job.failed.load())
    std::rethrow_exception(job.error);  // the first item to throw, either thread's
}
}  // namespace detail

// Runs fn(i, slot) for every item i in [0, items) on up to `threads` threads (at most
// parallel_chunks(items, 1)), each thread taking the next item as it comes free; slot, in
// [0, threads), names the thread running the item, so that fn can use that thread's own
// workspace slice. For items whose results do not depend on the slot or on which other items a
// thread ran (a convolution's samples, or its fixed blocks of samples): then only the
// assignment follows timing, never a bit. Why: on the project's 2-vCPU VMs one vCPU runs the
// same work 5-10% slower than the other, at times more, and a static split of a layer's samples
// waits on it at every layer (see parallel_for_pieces). One item at a time from a shared counter
// costs an atomic increment per item; keep items at tens of microseconds or more. Inside a
// chunk, or with one thread, the items run in order with slot 0.
// slots_owned: workspace slices the caller has (default 1). With 2 or more, inside a task of
// parallel_tasks, where the items would otherwise run inline on the task's thread, the other
// task's thread may join in with slot 1 once its own task is done (see "Helping" at the top).
template <class Fn>
void parallel_for_slots(std::int64_t items, std::int64_t threads, Fn&& fn,
                        std::int64_t slots_owned = 1) {
  if (slots_owned >= 2 && items >= 2 && detail::tl_pair != nullptr && !detail::tl_in_item) {
    detail::run_helped(items, fn);
    return;
  }
  // One slot (or a call inside a chunk) runs inline in parallel_for: the items in order, slot 0.
  const std::int64_t slots =
      std::min(std::max<std::int64_t>(threads, 1), parallel_chunks(items, 1));
  std::atomic<std::int64_t> next{0};
  parallel_for(0, slots, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t slot = lo; slot < hi; ++slot)
      for (std::int64_t i = next++; i < items; i = next++) fn(i, slot);
  });
}

// parallel_for(begin, end, grain, fn) for work in which no element's result depends on which
// call computes it (as parallel_for_pieces), that inside a task of parallel_tasks, where it
// would run inline as one call, runs as helped items of `piece` indices each (the last one
// shorter): the other task's thread, done with its own, may take some (see "Helping").
template <class Fn>
void parallel_for_helped(std::int64_t begin, std::int64_t end, std::int64_t grain,
                         std::int64_t piece, Fn&& fn) {
  if (detail::tl_pair == nullptr || detail::tl_in_item) {
    parallel_for(begin, end, grain, fn);
    return;
  }
  piece = std::max<std::int64_t>(piece, 1);
  const std::int64_t items = (end - begin + piece - 1) / piece;
  parallel_for_slots(
      items, 1,
      [&](std::int64_t i, std::int64_t) {
        fn(begin + i * piece, std::min(end, begin + (i + 1) * piece));
      },
      /*slots_owned=*/2);  // the pieces use no workspace slice
}

// Runs two independent pieces of work: on two threads when `parallel` is true and
// num_threads() >= 2 (and not already inside a chunk), else one after the other, first then
// second. Kernels called inside either task stay on that task's thread (see "Nesting"). An
// exception thrown by a task is caught inside the region and rethrown here (the first task's
// first), so the tasks may run checks.
template <class First, class Second>
void parallel_tasks(bool parallel, First&& first, Second&& second) {
  if (!parallel || parallel_chunks(2, 1) < 2) {
    first();
    second();
    return;
  }
  std::exception_ptr errors[2];
  detail::TaskPair pair;
  parallel_for(0, 2, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t t = lo; t < hi; ++t) {
      detail::TaskPair* const saved_pair = detail::tl_pair;
      const int saved_task = detail::tl_task;
      detail::tl_pair = &pair;
      detail::tl_task = static_cast<int>(t);
      try {
        if (t == 0)
          first();
        else
          second();
      } catch (...) {
        errors[t] = std::current_exception();
      }
      pair.done[t].store(true);
      // Only where the other task has a thread of its own (OpenMP may give the region one
      // thread, which then runs the tasks in turn: waiting for the other would never end).
      if (detail::team_threads() >= 2) detail::help_until_done(pair, static_cast<int>(t));
      detail::tl_pair = saved_pair;
      detail::tl_task = saved_task;
    }
  });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Sums partial(lo, hi) over the chunks of parallel_for in chunk order: deterministic for a
// given thread count (floating-point addition is not associative, so order is part of the result).
template <class T, class Fn>
T parallel_reduce(std::int64_t begin, std::int64_t end, std::int64_t grain, Fn&& partial) {
  const std::int64_t n = end - begin;
  const std::int64_t chunks = parallel_chunks(n, grain);
  if (chunks <= 1) return chunks == 0 ? T(0) : partial(begin, end);
  std::array<T, kMaxThreads> partials{};
  parallel_for(0, chunks, 1, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t c = lo; c < hi; ++c)
      partials[c] = partial(begin + n * c / chunks, begin + n * (c + 1) / chunks);
  });
  T total = partials[0];
  for (std::int64_t c = 1; c < chunks; ++c) total += partials[c];
  return total;
}

// Sets the thread count for a scope and restores the previous one (tests, benchmarks).
class ThreadScope {
 public:
  explicit ThreadScope(int threads) : saved_(num_threads()) { set_num_threads(threads); }
  ~ThreadScope() { set_num_threads(saved_); }
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

}  // namespace dqn
