// conv2d: gradchecks for every option, PyTorch fixtures (tests/fixtures/gen_conv_pool.py),
// error messages, and thread determinism.
#include <doctest/doctest.h>

#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

namespace {

// Gradcheck of conv2d on x [2, 4, H, W] with the given weight shape and options; bias [C_out]
// unless !with_bias.
void gradcheck_conv(Shape xs, Shape ws, bool with_bias, IntPair stride, IntPair padding, IntPair dilation,
                    int64_t groups) {
  Tensor x = leaf(xs, 1), w = leaf(ws, 2), b = with_bias ? leaf({ws[0]}, 3) : Tensor();
  std::vector<Tensor> inputs{x, w};
  if (with_bias) inputs.push_back(b);
  GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding, dilation, groups);
      },
      inputs);
}

IntPair pair(const nlohmann::json& j) { return {j.at(0).get<int64_t>(), j.at(1).get<int64_t>()}; }

// |a - b| <= 1e-4 + 1e-4 |b| everywhere, with the worst difference printed on failure.
void check_close(const Tensor& a, const Tensor& b, const std::string& what) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), what << ": shape " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  float worst = 0.f;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]) / (1.f + std::fabs(vb[i])));
  INFO(what << ": worst relative difference " << worst);
  CHECK(allclose(a, b, 1e-4f, 1e-4f));
}

}  // namespace

TEST_CASE("gradcheck: conv2d plain") { gradcheck_conv({2, 4, 6, 6}, {3, 4, 3, 3}, true, 1, 0, 1, 1); }
TEST_CASE("gradcheck: conv2d stride 2") { gradcheck_conv({2, 4, 7, 7}, {3, 4, 3, 3}, true, 2, 0, 1, 1); }
TEST_CASE("gradcheck: conv2d padding 1") { gradcheck_conv({2, 4, 6, 6}, {3, 4, 3, 3}, true, 1, 1, 1, 1); }
TEST_CASE("gradcheck: conv2d stride 2 padding 1") { gradcheck_conv({2, 4, 6, 6}, {3, 4, 3, 3}, true, 2, 1, 1, 1); }
TEST_CASE("gradcheck: conv2d dilation 2") { gradcheck_conv({2, 4, 7, 7}, {3, 4, 3, 3}, true, 1, 1, 2, 1); }
TEST_CASE("gradcheck: conv2d groups 2") { gradcheck_conv({2, 4, 6, 6}, {4, 2, 3, 3}, true, 1, 1, 1, 2); }
TEST_CASE("gradcheck: conv2d depthwise") { gradcheck_conv({2, 4, 6, 6}, {4, 1, 3, 3}, true, 1, 1, 1, 4); }
TEST_CASE("gradcheck: conv2d no bias") { gradcheck_conv({2, 4, 6, 6}, {3, 4, 3, 3}, false, 1, 1, 1, 1); }
TEST_CASE("gradcheck: conv2d non-square kernel and stride") {
  gradcheck_conv({2, 4, 7, 6}, {3, 4, 2, 3}, true, {2, 1}, {1, 0}, {1, 2}, 1);
}
TEST_CASE("gradcheck: conv2d 1x1 (no im2col)") { gradcheck_conv({2, 4, 5, 5}, {3, 4, 1, 1}, true, 1, 0, 1, 1); }
TEST_CASE("gradcheck: conv2d 1x1 stride 2 groups 2") { gradcheck_conv({2, 4, 5, 5}, {4, 2, 1, 1}, true, 2, 0, 1, 2); }

TEST_CASE("conv2d: matches PyTorch") {
  int checked = 0;
  for (const auto& [kase, j] : fixture_file("conv_pool").items()) {
    if (kase.rfind("conv_", 0) != 0) continue;
    INFO("case " << kase);
    auto fx = [&](const std::string& name) { return fixture_tensor("conv_pool", kase, name); };
    const bool has_bias = j.contains("bias");
    Tensor x = fx("x").requires_grad_(), w = fx("weight").requires_grad_();
    Tensor b = has_bias ? fx("bias").requires_grad_() : Tensor();
    Tensor out =
        conv2d(x, w, b, pair(j["stride"]), pair(j["padding"]), pair(j["dilation"]), j["groups"].get<int64_t>());
    check_close(out, fx("out"), kase + " out");
    out.backward(fx("gout"));
    check_close(x.grad(), fx("gx"), kase + " gx");
    check_close(w.grad(), fx("gweight"), kase + " gweight");
    if (has_bias) check_close(b.grad(), fx("gbias"), kase + " gbias");
    ++checked;
  }
  CHECK(checked == 8);
}

TEST_CASE("conv2d: backward computes only the gradients asked for") {
  Generator gen(5);
  Tensor x = randn({2, 4, 6, 6}, &gen), w = randn({3, 4, 3, 3}, &gen).requires_grad_(), b = randn({3}, &gen);
  conv2d(x, w, b, 1, 1).sum().backward();
  CHECK(w.grad().defined());
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(b.grad().defined());
  // With only x requiring grad, its gradient still matches the full computation.
  Tensor x2 = x.detach().requires_grad_(), w2 = w.detach(), x3 = x.detach().requires_grad_(),
         w3 = w.detach().requires_grad_();
  conv2d(x2, w2, b, 1, 1).sum().backward();
  conv2d(x3, w3, b, 1, 1).sum().backward();
  CHECK(equal(x2.grad(), x3.grad()));
}

TEST_CASE("conv2d: batch-parallel result matches image by image") {
  // N = 5 (over 1M multiply-adds) runs over the threads; N = 1 runs sgemm itself on the threads.
  Generator gen(6);
  Tensor x = randn({5, 8, 16, 16}, &gen), w = randn({16, 8, 3, 3}, &gen), b = randn({16}, &gen);
  Tensor out = conv2d(x, w, b, 1, 1);
  for (int64_t n = 0; n < 5; ++n) {
    Tensor one = conv2d(x.slice(0, n, n + 1), w, b, 1, 1);
    CHECK(allclose(out.slice(0, n, n + 1), one, 1e-4f, 1e-4f));
  }
}

TEST_CASE("conv2d: the direct 3x3 kernel equals im2col + sgemm, forward and backward") {
  // conv2d(x, w, b, 1, 1) takes core/kernels/conv3x3 (where AVX2 is built in); the same conv
  // written as pad(x, 1) then conv2d with padding 0 takes im2col + sgemm. Output-channel counts
  // that fill no whole block of 4 (forward) or 6 (dw), widths from 3 to 32, one channel.
  struct Case { int64_t N, C, H, W, Cout; };
  for (Case c : {Case{3, 5, 7, 13, 7}, Case{2, 16, 8, 8, 16}, Case{2, 3, 32, 32, 16}, Case{1, 1, 5, 3, 13},
                 Case{4, 17, 6, 9, 2}}) {
    INFO("N " << c.N << " C " << c.C << " H " << c.H << " W " << c.W << " Cout " << c.Cout);
    Generator gen(uint64_t(c.C * 100 + c.W));
    Tensor x = randn({c.N, c.C, c.H, c.W}, &gen), w = randn({c.Cout, c.C, 3, 3}, &gen), b = randn({c.Cout}, &gen);
    Tensor g = randn({c.N, c.Cout, c.H, c.W}, &gen);
    Tensor xa = x.clone().requires_grad_(), wa = w.clone().requires_grad_(), ba = b.clone().requires_grad_();
    Tensor xb = x.clone().requires_grad_(), wb = w.clone().requires_grad_(), bb = b.clone().requires_grad_();
    Tensor direct = conv2d(xa, wa, ba, 1, 1);
    Tensor reference = conv2d(pad(xb, {1, 1, 1, 1}), wb, bb, 1, 0);
    check_close(direct, reference, "output");
    direct.backward(g), reference.backward(g);
    check_close(xa.grad(), xb.grad(), "input gradient");
    check_close(wa.grad(), wb.grad(), "weight gradient");
    check_close(ba.grad(), bb.grad(), "bias gradient");
  }
}

TEST_CASE("conv2d: the direct stride-2 3x3 forward equals im2col + sgemm") {
  // conv2d(x, w, b, 2, 1) takes conv3x3's phase-plane forward (its backward is im2col's); the
  // reference pads first and takes im2col + sgemm. Even and odd sizes, partial channel blocks.
  struct Case { int64_t N, C, H, W, Cout; };
  for (Case c : {Case{2, 16, 32, 32, 32}, Case{3, 5, 7, 13, 7}, Case{2, 3, 8, 8, 16}, Case{1, 1, 5, 3, 13},
                 Case{2, 32, 16, 16, 64}, Case{1, 4, 1, 1, 6}}) {
    INFO("N " << c.N << " C " << c.C << " H " << c.H << " W " << c.W << " Cout " << c.Cout);
    Generator gen(uint64_t(c.C * 100 + c.W + 7));
    Tensor x = randn({c.N, c.C, c.H, c.W}, &gen), w = randn({c.Cout, c.C, 3, 3}, &gen), b = randn({c.Cout}, &gen);
    Tensor xa = x.clone().requires_grad_(), wa = w.clone().requires_grad_();
    Tensor xb = x.clone().requires_grad_(), wb = w.clone().requires_grad_();
    Tensor direct = conv2d(xa, wa, b, 2, 1);
    Tensor reference = conv2d(pad(xb, {1, 1, 1, 1}), wb, b, 2, 0);
    REQUIRE(direct.shape() == reference.shape());
    check_close(direct, reference, "output");
    Tensor g = randn(direct.shape(), &gen);
    direct.backward(g), reference.backward(g);
    check_close(xa.grad(), xb.grad(), "input gradient");
    check_close(wa.grad(), wb.grad(), "weight gradient");
  }
}

TEST_CASE("conv2d: bit-identical backward across runs") {
  Generator gen(8);
  Tensor x = randn({6, 8, 16, 16}, &gen).requires_grad_(), w = randn({16, 8, 3, 3}, &gen).requires_grad_(),
         b = randn({16}, &gen).requires_grad_();
  Tensor g = randn({6, 16, 16, 16}, &gen);
  conv2d(x, w, b, 1, 1).backward(g);
  Tensor gx = x.grad(), gw = w.grad(), gb = b.grad();
  x.zero_grad(), w.zero_grad(), b.zero_grad();
  conv2d(x, w, b, 1, 1).backward(g);
  CHECK(equal(x.grad(), gx));
  CHECK(equal(w.grad(), gw));
  CHECK(equal(b.grad(), gb));
}

TEST_CASE("conv2d: non-contiguous input") {
  Generator gen(9);
  Tensor x = randn({2, 4, 6, 3}, &gen).permute({0, 1, 3, 2}).requires_grad_();  // [2, 4, 3, 6], strided
  Tensor w = randn({3, 4, 2, 2}, &gen);
  REQUIRE_FALSE(x.is_contiguous());
  Tensor out = conv2d(x, w, Tensor(), 1, 1);
  CHECK(equal(out, conv2d(x.contiguous(), w, Tensor(), 1, 1)));
  out.sum().backward();
  CHECK(x.grad().shape() == Shape{2, 4, 3, 6});
}

TEST_CASE("conv2d: error messages") {
  Tensor x = zeros({2, 3, 5, 5});
  CHECK_THROWS_WITH_AS(conv2d(zeros({3, 4}), zeros({4, 3, 3, 3})),
                       doctest::Contains("conv2d: expected input [N, C, H, W], got [3, 4]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({4, 3, 3})), doctest::Contains("conv2d: expected weight"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 4, 3, 3})),
                       doctest::Contains("conv2d: input has 3 channels, weight expects 4 (groups=1)"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({2, 4, 5, 5}), zeros({4, 1, 3, 3}), Tensor(), 1, 0, 1, 2),
                       doctest::Contains("conv2d: input has 4 channels, weight expects 2 (groups=2)"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({4, 1, 3, 3}), Tensor(), 1, 0, 1, 2),
                       doctest::Contains("conv2d: groups=2 does not divide the 3 input channels"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({2, 4, 5, 5}), zeros({3, 2, 3, 3}), Tensor(), 1, 0, 1, 2),
                       doctest::Contains("conv2d: groups=2 does not divide the 3 output channels"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({4, 3, 7, 7})),
                       doctest::Contains("conv2d: kernel 7x7 (after dilation) is larger than the padded input 5x5"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), 1, 0, 3),
                       doctest::Contains("conv2d: kernel 7x7 (after dilation)"), Error);
  CHECK_NOTHROW(conv2d(x, zeros({4, 3, 7, 7}), Tensor(), 1, 1));  // fits once padded
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({4, 3, 3, 3}), zeros({3})),
                       doctest::Contains("conv2d: expected bias [4] for weight [4, 3, 3, 3], got [3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({4, 3, 3, 3}), Tensor(), 0), doctest::Contains("conv2d: stride must be >= 1"),
                       Error);
}
