// The stb_image decoder, instrumented, for fuzz_image (see CMakeLists.txt).
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
