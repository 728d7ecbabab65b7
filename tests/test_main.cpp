// The one doctest main; every tests/*.cpp adds TEST_CASEs to this binary.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "core/blas_kernels.h"

int main(int argc, char** argv) {
  norma::use_best_blas_kernels(argv);  // the same GEMM kernels as the norma binary
  return doctest::Context(argc, argv).run();
}
