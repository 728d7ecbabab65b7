// Choosing OpenBLAS's kernels when it does not recognise the CPU.
//
// OpenBLAS picks its GEMM kernels once, when the library loads. Debian's 0.3.21 does not know
// recent CPUs (this project's AMD Zen 5 machines among them) and falls back to "Prescott", its
// SSE3 kernels: about 4x slower sgemm than the AVX2 ones, 8x slower than AVX-512. The only
// switch is the environment variable OPENBLAS_CORETYPE, read at load time, so a program
// must set it and start again. use_best_blas_kernels() does that: when OPENBLAS_CORETYPE is
// unset and OpenBLAS chose a core older than the CPU's instruction set, it sets the variable
// (SkylakeX with AVX-512, else Haswell with AVX2) and re-executes the program with the same
// arguments. Set OPENBLAS_CORETYPE yourself to choose, or NORMA_KEEP_BLAS_CORE=1 to keep
// OpenBLAS's own choice.
#pragma once

namespace norma {

// The kernel family OpenBLAS is using (openblas_get_corename()).
const char* blas_core_name();
// Call first thing in main(); returns only when no restart is needed (or it failed).
void use_best_blas_kernels(char** argv);

}  // namespace norma
