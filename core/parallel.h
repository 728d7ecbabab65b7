// Threads: norma and OpenBLAS share one OpenMP pool (Debian's OpenMP build of OpenBLAS), so
// setting the thread count here sets it for both.
#pragma once

namespace norma {

void set_num_threads(int n);
int get_num_threads();

}  // namespace norma
