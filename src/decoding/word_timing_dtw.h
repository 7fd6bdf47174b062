// The two numeric steps of word timing, as openai-whisper's timing.py defines them: a median
// filter over attention rows and dynamic time warping between text tokens and audio positions.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace hark::decoding {

// Median of each window of `width` values along the last axis of x (f32, CPU, any rank >= 1),
// with the edges reflect-padded by width / 2 without repeating the edge value ([a b c d] padded
// by 2 reads c b a b c d c b). A row no longer than width / 2 is returned unchanged (as timing.py
// does, since reflection needs more values). NaN sorts above every number. Returns a new tensor.
// Throws kInvalidArgument for an even or non-positive width, or a non-f32 tensor.
Tensor median_filter(const Tensor& x, int width);

// A monotonic path through a cost matrix, as parallel index lists from (0, 0) to (N-1, M-1).
struct DtwPath {
  std::vector<int> text_indices;  // row of each step
  std::vector<int> time_indices;  // column of each step
};

// Minimum-cost monotonic path through cost [N, M] (f32, N, M >= 1), timing.py's dtw_cpu and
// backtrace: accumulated costs are float32, each cell adds its cost to the cheapest of its
// diagonal, upper and left predecessors, where the diagonal wins only when strictly cheaper than
// both others, the upper only when strictly cheaper than both others, and the left otherwise
// (every tie goes to the left, i.e. to advancing in time). The trace-back from (N-1, M-1) keeps to
// row 0 by moving left and to column 0 by moving up. Throws kInvalidArgument for another shape.
DtwPath dtw(const Tensor& cost);

}  // namespace hark::decoding
