// The one doctest main; every tests/*.cpp adds TEST_CASEs to this binary.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
