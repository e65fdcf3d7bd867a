// fuzz/fuzz_image.cpp: image files (datasets/image_io.h) through stb_image, as an image folder
// reads them: decode (3 channels for an even input size, 1 for an odd one), then the resize and
// center crop that `folder` datasets apply. stb_image is compiled into this target from Debian's
// header (stb_image_impl.cpp) so that the sanitizers and the coverage see inside the decoder.
#include "datasets/image_io.h"
#include "fuzz/fuzz_util.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int channels = size % 2 == 0 ? 3 : 1;
  const auto img = fuzz::accepted([&] { return decode_image({data, size}, "input", channels); });
  if (img) {
    fuzz::check(img->C == channels && img->H > 0 && img->W > 0 &&
                    img->pixels.size() == static_cast<std::size_t>(img->C * img->H * img->W),
                "decode_image returned an inconsistent image");
    if (img->H * img->W <= (1 << 16)) {
      const Image crop = resize_center_crop(*img, 8);
      fuzz::check(crop.pixels.size() == static_cast<std::size_t>(channels * 8 * 8),
                  "resize_center_crop returned the wrong size");
    }
  }
  return 0;
}
