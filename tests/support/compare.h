// Comparisons the model tests share: relative error and top-1 agreement of logits, and the
// reference fixtures' token lists.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace hark::testing {

// ‖got − ref‖ / ‖ref‖ over all elements (any float dtype, any device: both are copied to fp32 on
// the CPU); infinity when the element counts differ.
double rel_error(const Tensor& got, const Tensor& ref);

// The fraction of rows of two [rows, n] fp32 CPU tensors whose argmax agree.
double top1_agreement(const Tensor& a, const Tensor& b);

// Top-1 agreement up to ties: a row agrees when the token `a` picks has a logit in `b` within
// `tol` × the row's largest |logit| of b's best (a random-weight model's logits are flat, and a
// near-tie can flip within a dtype's rounding). *worst (optional): the largest such gap seen.
double top1_agreement_up_to_ties(const Tensor& a, const Tensor& b, double tol,
                                 double* worst = nullptr);

// The values of an I64 or I32 CPU tensor (a reference fixture's token ids, e.g. tf_input_ids) as
// ints.
std::vector<int> token_ids(const Tensor& ids);

}  // namespace hark::testing
