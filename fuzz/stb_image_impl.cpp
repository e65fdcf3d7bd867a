// fuzz/stb_image_impl.cpp: stb_image's implementation compiled from Debian's header into the image
// fuzz target only, so that it is instrumented (coverage, ASan, UBSan). normlab itself links
// libstb.so, which Debian builds from this same header; its definitions here take precedence.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
