#include "core/blas_kernels.h"

#include <unistd.h>

#include <cstdlib>
#include <strings.h>

#include <cstring>

extern "C" char* openblas_get_corename(void);

namespace norma {

const char* blas_core_name() { return openblas_get_corename(); }

void use_best_blas_kernels(char** argv) {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("NORMA_KEEP_BLAS_CORE")) return;
  const char* best = nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    best = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    best = "Haswell";
  if (!best) return;
  // Cores OpenBLAS itself chooses well on these CPUs: leave them alone.
  const char* modern[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
  const char* core = openblas_get_corename();
  for (const char* m : modern)
    if (core && strcasecmp(core, m) == 0) return;
  setenv("OPENBLAS_CORETYPE", best, 1);
  setenv("NORMA_BLAS_CORE_CHOSEN", "1", 1);  // tells `norma bench` the environment did not choose
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on with the slow kernels
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("NORMA_BLAS_CORE_CHOSEN");
#else
  (void)argv;
#endif
}

}  // namespace norma
