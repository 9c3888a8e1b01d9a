// Tests for core/tensor.hpp: shapes, ownership, views, alignment and reuse of memory.
#include <doctest/doctest.h>

#include <cstdint>

#include "core/tensor.hpp"

using namespace dqn;

TEST_CASE("a new tensor is zero-filled, 64-byte aligned and reports its shape") {
  Tensor t(Shape{3, 5});
  CHECK(t.numel() == 15);
  CHECK(t.shape().str() == "(3,5)");
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (std::int64_t i = 0; i < t.numel(); ++i) CHECK(t[i] == 0.0f);
}

TEST_CASE("rows() is a view onto the same memory, and out-of-range rows throw") {
  Tensor t(Shape{4, 3});
  for (std::int64_t i = 0; i < 12; ++i) t[i] = static_cast<float>(i);
  TensorView mid = t.rows(1, 3);
  CHECK(mid.shape == Shape{2, 3});
  CHECK(mid[0] == 3.0f);
  mid[0] = -1.0f;
  CHECK(t[3] == -1.0f);
  CHECK_THROWS_AS(t.rows(2, 5), Error);
}

TEST_CASE("resize within capacity keeps the allocation and growing it moves to new memory") {
  Tensor t(Shape{8, 8});
  const float* before = t.data();
  t.resize(Shape{4, 4});
  CHECK(t.data() == before);
  t.resize(Shape{16, 16});
  CHECK(t.numel() == 256);
}

TEST_CASE("moves transfer ownership and clone copies") {
  Tensor a(Shape{2, 2});
  a[3] = 7.0f;
  const float* p = a.data();
  Tensor b = std::move(a);
  CHECK(b.data() == p);
  Tensor c = b.clone();
  CHECK(c.data() != b.data());
  CHECK(c[3] == 7.0f);
}

TEST_CASE("copy_from with a different shape names both shapes") {
  Tensor a(Shape{2, 3});
  Tensor b(Shape{3, 2});
  try {
    a.copy_from(b.view());
    FAIL("expected an Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("(2,3)") != std::string::npos);
    CHECK(std::string(e.what()).find("(3,2)") != std::string::npos);
  }
}

TEST_CASE("shapes reject more than four dimensions and negative sizes") {
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5}), Error);
  CHECK_THROWS_AS((Shape{2, -1}), Error);
}
