// autograd/node.h: one recorded op in the graph.
// A node has exactly one output. backward(dy) returns one gradient per input, in the order of
// `inputs` (an undefined Tensor where that input needs none). The engine, not the node, adds the
// gradients into their destinations, so fan-out works (micrograd's +=).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "autograd/variable.h"

namespace normlab {

struct Node;

// One input of a node: where the input's gradient goes, not its value. An op's result is reached
// through its node alone, so its value is freed as soon as nothing else holds it (a node saves
// what its own backward reads); a leaf that requires a gradient is held itself, because the engine
// writes its .grad. Holding the inputs themselves kept every intermediate of a forward alive until
// the backward; without that, ResNet-20's peak memory at batch 128 fell by a third
// (docs/benchmarks.md).
struct Edge {
  std::shared_ptr<Node> node;  // the input's grad_fn; null for a leaf or an undefined input
  Variable leaf;               // a leaf that requires a gradient; undefined otherwise
  Shape shape;                 // the input's, which its gradient must have
  bool requires_grad = false;  // false for an undefined input
};

struct Node {
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node() = default;

  virtual std::vector<Tensor> backward(const Tensor& dy) = 0;
  virtual std::string_view name() const = 0;
  // Frees saved tensors after a backward pass that does not retain the graph.
  virtual void release() {}

  std::vector<Edge> inputs;  // one per input, in order; set by make_output
  bool released = false;     // set by the engine; a second backward through it is an error
};

}  // namespace normlab
