// core/error.h: normlab's exception hierarchy (STYLE.md 3.8).
// Messages are one line: "<op>: <what is wrong> (<operand>: <shape>, ...)".
// Only tools/ catches; library code never prints or exits.
#pragma once

#include <stdexcept>

namespace normlab {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError final : public Error {  // names the op and every operand's shape
 public:
  using Error::Error;
};
class DTypeError final : public Error {
 public:
  using Error::Error;
};
class ValueError final : public Error {  // bad argument values
 public:
  using Error::Error;
};
class IoError final : public Error {  // names the path and, where it applies, the byte offset
 public:
  using Error::Error;
};

}  // namespace normlab
