// autograd/node.h: one recorded op in the graph.
// A node has exactly one output. backward(dy) returns one gradient per input, in the order of
// `inputs` (an undefined Tensor where that input needs none). The engine, not the node, adds the
// gradients into their destinations, so fan-out works (micrograd's +=).
#pragma once

#include <string_view>
#include <vector>

#include "autograd/variable.h"

namespace normlab {

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node() = default;

  virtual std::vector<Tensor> backward(const Tensor& dy) = 0;
  virtual std::string_view name() const = 0;
  // Frees saved tensors after a backward pass that does not retain the graph.
  virtual void release() {}

  std::vector<Variable> inputs;  // the edges; set by make_output
  bool released = false;         // set by the engine; a second backward through it is an error
};

}  // namespace normlab
