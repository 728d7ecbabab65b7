#include "core/parallel.h"

#include <omp.h>

#include "core/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace norma {

void set_num_threads(int n) {
  NORMA_CHECK(n >= 1, "set_num_threads: expected at least 1 thread, got ", n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace norma
