// bench/bench_regions.cpp: where the Nature CNN's two-thread update waits. Every OpenMP region
// the update opens is timed from outside the library: this binary defines GOMP_parallel, the
// libgomp entry GCC emits for every `#pragma omp parallel` (the combined parallel-for loops of
// core/parallel.hpp included: their dynamic schedule runs inside the region's body), and forwards
// to libgomp's own (dlsym RTLD_NEXT). The static libraries linked in bind to this definition, so
// the kernels are the release build's, unchanged. Per region: its wall time, from the call to the
// return, and each thread's time inside the region's body. Counters, per update:
//   regions     the regions opened (nested parallel_for calls run inline and open none);
//   region_ms   wall time inside them; outside_ms the rest of the update (the serial glue);
//               the table on stderr splits it by where it falls: before each region, and after
//               the last;
//   wait_ms     thread-ms held but not used: threads x wall - the threads' time in the body,
//               summed over regions (a thread done with its share waiting at the join, a task's
//               thread waiting for the other, and the fork and join themselves).
// Trap: waiting inside a region's body counts as busy. parallel_tasks' thread that finishes its
// task first spins in help_until_done (core/parallel.hpp) inside the body, so the forward
// passes' region (the update's first) shows only its fork and join here; bench_update's
// BM_CnnForwardPasses measures what running the two passes side by side costs.
// After the runs, on stderr, the regions are listed in the order the update opens them, with the
// function that opened each (addr2line on this binary).
// Only with libgomp (GCC's -fopenmp): another runtime never calls GOMP_parallel, and the
// benchmark then says so instead of reporting zeros.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "rl/agent.hpp"

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One region of one update, by its place in the update's sequence.
struct Region {
  void* site = nullptr;  // the return address of the GOMP_parallel call
  double wall_ms = 0, wait_ms = 0;
  double before_ms = 0;  // serial time since the previous region ended (or the update began)
};

struct Recorder {
  std::mutex mutex;
  std::atomic<bool> on{false};  // read by whichever thread opens a region
  std::size_t next = 0;         // the place of the next region in this update
  std::vector<Region> regions;  // summed over the recorded updates, by place
  std::size_t mismatches = 0;   // a place whose call site differed between updates
  double last_end_ms = 0;       // when the update began or its last region returned
  double tail_ms = 0;           // summed: from the last region's return to the update's end
};
Recorder recorder;

// Each benchmark's table of regions from its last (longest) run, printed after all runs.
std::map<std::string, std::string> tables;

// The region's body, wrapped: fn(data) timed on each thread of the team.
struct Body {
  void (*fn)(void*);
  void* data;
  std::atomic<double> busy_ms{0};
  std::atomic<int> threads{0};
};

void timed_body(void* p) {
  auto* body = static_cast<Body*>(p);
  body->threads.fetch_add(1);
  const double start = now_ms();
  body->fn(body->data);
  const double took = now_ms() - start;
  double seen = body->busy_ms.load();
  while (!body->busy_ms.compare_exchange_weak(seen, seen + took)) {
  }
}

using GompParallel = void (*)(void (*)(void*), void*, unsigned, unsigned);

GompParallel libgomp_parallel() {
  static const auto real = reinterpret_cast<GompParallel>(dlsym(RTLD_NEXT, "GOMP_parallel"));
  return real;
}

}  // namespace

// libgomp's ABI since GCC 4.9: fn(data) on a team of num_threads (0: the default), flags.
extern "C" void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags) {
  const GompParallel real = libgomp_parallel();
  if (real == nullptr) {  // not linked with libgomp: nothing to forward to
    std::fputs("bench_regions: libgomp's GOMP_parallel was not found (build with GCC's -fopenmp)\n",
               stderr);
    std::abort();
  }
  if (!recorder.on) {
    real(fn, data, num_threads, flags);
    return;
  }
  void* const site = __builtin_return_address(0);
  Body body{fn, data};
  const double start = now_ms();
  real(timed_body, &body, num_threads, flags);
  const double end = now_ms();
  const double wall = end - start;
  const std::lock_guard<std::mutex> lock(recorder.mutex);
  if (recorder.next == recorder.regions.size()) recorder.regions.push_back(Region{site});
  Region& r = recorder.regions[recorder.next++];
  if (r.site != site) ++recorder.mismatches;
  r.wall_ms += wall;
  r.before_ms += start - recorder.last_end_ms;
  recorder.last_end_ms = end;
  r.wait_ms += body.threads.load() * wall - body.busy_ms.load();
}

namespace {

using namespace dqn;

// The function that contains `site`, by addr2line on this binary (its symbol table names
// functions in anonymous namespaces too, which dladdr cannot), or its offset when that fails.
std::string site_name(void* site) {
  Dl_info info{};
  if (dladdr(site, &info) == 0 || info.dli_fname == nullptr) return "?";
  const auto offset =
      static_cast<unsigned long>(static_cast<char*>(site) - static_cast<char*>(info.dli_fbase));
  char command[1024];
  std::snprintf(command, sizeof command, "addr2line -f -C -e '%s' 0x%lx 2>/dev/null",
                info.dli_fname, offset - 1);  // -1: the call, not the instruction after it
  std::string name;
  if (FILE* pipe = popen(command, "r")) {
    char line[4096];
    if (std::fgets(line, sizeof line, pipe) != nullptr) name = line;
    pclose(pipe);
  }
  for (const std::string anonymous = "(anonymous namespace)::";;) {
    const auto at = name.find(anonymous);
    if (at == std::string::npos) break;
    name.erase(at, anonymous.size());
  }
  if (const auto paren = name.find('('); paren != std::string::npos) name.resize(paren);
  if (name.empty() || name[0] == '?') {
    char where[64];
    std::snprintf(where, sizeof where, "+0x%lx", offset);
    return where;
  }
  return name;
}

// Arguments: precision (0 fp32, 1 bf16), threads.
void BM_CnnUpdateRegions(benchmark::State& state) {
  const bool bf16 = state.range(0) != 0;
  ThreadScope threads(static_cast<int>(state.range(1)));
  const NetworkSpec spec = NetworkSpec::nature_cnn(6);
  Config config = make_preset("seed");  // as bench_update's BM_CnnUpdate: clip 10, Adam
  config.precision = bf16 ? "bf16" : "fp32";
  Rng rng(1);
  DqnAgent agent(spec, config, rng);
  const Batch b = random_batch(spec, 32, rng);
  agent.update(b);  // the first update sizes every buffer
  recorder.regions.clear();
  recorder.mismatches = 0;
  recorder.tail_ms = 0;
  double update_ms = 0;
  std::int64_t updates = 0;
  for (auto _ : state) {
    recorder.next = 0;
    const double start = now_ms();
    recorder.last_end_ms = start;
    recorder.on = true;
    UpdateStats s = agent.update(b);
    const double end = now_ms();
    recorder.on = false;
    update_ms += end - start;
    recorder.tail_ms += end - recorder.last_end_ms;
    benchmark::DoNotOptimize(s);
    ++updates;
  }
  if (recorder.mismatches != 0) {
    state.SkipWithError("the update's regions came in a different order between updates");
    return;
  }
  double region_ms = 0, wait_ms = 0;
  for (const Region& r : recorder.regions) {
    region_ms += r.wall_ms;
    wait_ms += r.wait_ms;
  }
  const double n = static_cast<double>(std::max<std::int64_t>(updates, 1));
  state.counters["regions"] = static_cast<double>(recorder.regions.size());
  state.counters["update_ms"] = update_ms / n;
  state.counters["region_ms"] = region_ms / n;
  state.counters["outside_ms"] = (update_ms - region_ms) / n;
  state.counters["wait_ms"] = wait_ms / n;
  if (state.range(1) >= 2 && recorder.regions.empty()) {
    state.SkipWithError("no OpenMP region was seen: this build's OpenMP is not libgomp");
    return;
  }
  char line[512];
  std::snprintf(line, sizeof line, "BM_CnnUpdateRegions/bf16:%d/threads:%d", bf16 ? 1 : 0,
                static_cast<int>(state.range(1)));
  const std::string name = line;
  std::string table;
  std::snprintf(line, sizeof line,
                "%s: %lld updates, the regions in the order the update opens them\n", name.c_str(),
                static_cast<long long>(updates));
  table += line;
  for (std::size_t i = 0; i < recorder.regions.size(); ++i) {
    const Region& r = recorder.regions[i];
    std::snprintf(line, sizeof line,
                  "  %2zu  serial before %6.3f ms  wall %7.3f ms  wait %6.3f thread-ms  %s\n", i,
                  r.before_ms / n, r.wall_ms / n, r.wait_ms / n, site_name(r.site).c_str());
    table += line;
  }
  std::snprintf(line, sizeof line, "      serial after the last region %6.3f ms\n",
                recorder.tail_ms / n);
  table += line;
  tables[name] = table;
}

}  // namespace

BENCHMARK(BM_CnnUpdateRegions)
    ->ArgsProduct({{0, 1}, {2}})
    ->ArgNames({"bf16", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// BENCHMARK_MAIN, then the tables on stderr (stdout may be --benchmark_format=json).
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (const auto& [name, table] : tables) std::fputs(table.c_str(), stderr);
  return 0;
}
