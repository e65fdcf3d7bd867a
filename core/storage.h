// core/storage.h: one contiguous, 64-byte aligned buffer that tensors and their views share.
#pragma once

#include <cstddef>
#include <memory>

namespace normlab {

class Storage {
 public:
  explicit Storage(std::size_t nbytes);  // uninitialized; Tensor::zeros clears it
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::byte* data() noexcept { return data_.get(); }
  const std::byte* data() const noexcept { return data_.get(); }
  std::size_t nbytes() const noexcept { return nbytes_; }

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t nbytes_ = 0;
};

}  // namespace normlab
