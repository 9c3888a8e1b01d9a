// core/tensor.hpp: shapes, owning tensors and non-owning views.
//
// A tensor is a contiguous row-major block of T (float for training; double for gradient
// checks; uint8 for Atari frames) with a shape of up to four int64 dimensions. Storage is
// 64-byte aligned (one cache line, one AVX-512 register) so vector loads never split lines.
//
//   Tensor x(Shape{64, 4});          // zero-filled, owns its memory
//   TensorView batch = x.rows(0, 32); // the first 32 rows, no copy, owns nothing
//   x.resize(Shape{32, 4});           // reuses the memory: no allocation when it fits
//
// Tensors move cheaply and are never copied by accident (the copy constructor is deleted; use
// clone() or copy_from()). A Shape is a fixed array, so building one never allocates.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <new>
#include <string>

#include "core/error.hpp"

namespace dqn {

struct Shape {
  static constexpr int kMaxRank = 4;
  std::array<std::int64_t, kMaxRank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> list) {
    DQN_CHECK(list.size() <= kMaxRank, "a shape has at most ", kMaxRank, " dimensions, got ",
              list.size());
    for (std::int64_t d : list) {
      DQN_CHECK(d >= 0, "shape dimensions must be >= 0, got ", d);
      dims[rank++] = d;
    }
  }
  std::int64_t operator[](int i) const { return dims[i]; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  // Shape with the first dimension replaced (a batch slice of this shape).
  Shape with_rows(std::int64_t rows) const {
    Shape s = *this;
    s.dims[0] = rows;
    return s;
  }
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank != b.rank) return false;
    for (int i = 0; i < a.rank; ++i)
      if (a.dims[i] != b.dims[i]) return false;
    return true;
  }
  // "(64,256)": the form every error message uses.
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank; ++i) {
      if (i > 0) s.push_back(',');
      s.append(std::to_string(dims[i]));
    }
    s.push_back(')');
    return s;
  }
};

// A non-owning window onto contiguous memory. T may be const (a read-only view).
template <class T>
struct View {
  T* data = nullptr;
  Shape shape;

  std::int64_t numel() const { return shape.numel(); }
  std::int64_t dim(int i) const { return shape[i]; }
  // Elements per leading index (the size of one row / one sample).
  std::int64_t row_size() const {
    return shape.rank == 0 ? 1 : numel() / std::max<std::int64_t>(shape[0], 1);
  }
  View rows(std::int64_t begin, std::int64_t end) const {
    DQN_CHECK(shape.rank >= 1 && 0 <= begin && begin <= end && end <= shape[0], "row range [",
              begin, ",", end, ") is outside a tensor of shape ", shape.str());
    return View{data + begin * row_size(), shape.with_rows(end - begin)};
  }
  operator View<const T>() const { return View<const T>{data, shape}; }
  T& operator[](std::int64_t i) const { return data[i]; }
};

namespace detail {
constexpr std::size_t kTensorAlignment = 64;
struct AlignedFree {
  void operator()(void* p) const { ::operator delete (p, std::align_val_t{kTensorAlignment}); }
};
}  // namespace detail

template <class T>
class BasicTensor {
 public:
  BasicTensor() = default;
  explicit BasicTensor(Shape shape) { resize(shape); }
  BasicTensor(BasicTensor&&) noexcept = default;
  BasicTensor& operator=(BasicTensor&&) noexcept = default;
  BasicTensor(const BasicTensor&) = delete;
  BasicTensor& operator=(const BasicTensor&) = delete;

  // Changes the shape; contents become zero. Allocates only when the new size exceeds the
  // capacity this tensor has ever had, which is what keeps steady-state training allocation-free.
  void resize(Shape shape) {
    resize_for_overwrite(shape);
    fill(T(0));
  }
  // As resize() but leaves the contents unspecified: for outputs a kernel overwrites at once.
  void resize_for_overwrite(Shape shape) {
    const std::int64_t n = shape.numel();
    if (n > capacity_) {
      const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(T);
      data_.reset(
          static_cast<T*>(::operator new (bytes, std::align_val_t{detail::kTensorAlignment})));
      capacity_ = n;
    }
    shape_ = shape;
  }
  void fill(T value) { std::fill(data(), data() + numel(), value); }
  void copy_from(View<const T> src) {
    DQN_CHECK(src.shape == shape_, "copy_from: expected a source of shape ", shape_.str(), ", got ",
              src.shape.str());
    if (numel() > 0) std::memcpy(data(), src.data, static_cast<std::size_t>(numel()) * sizeof(T));
  }
  BasicTensor clone() const {
    BasicTensor t(shape_);
    t.copy_from(view());
    return t;
  }

  T* data() { return static_cast<T*>(data_.get()); }
  const T* data() const { return static_cast<const T*>(data_.get()); }
  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t dim(int i) const { return shape_[i]; }
  int rank() const { return shape_.rank; }
  T& operator[](std::int64_t i) { return data()[i]; }
  const T& operator[](std::int64_t i) const { return data()[i]; }

  View<T> view() { return View<T>{data(), shape_}; }
  View<const T> view() const { return View<const T>{data(), shape_}; }
  View<T> rows(std::int64_t begin, std::int64_t end) { return view().rows(begin, end); }
  View<const T> rows(std::int64_t begin, std::int64_t end) const { return view().rows(begin, end); }

 private:
  std::unique_ptr<void, detail::AlignedFree> data_;
  std::int64_t capacity_ = 0;
  Shape shape_;
};

using Tensor = BasicTensor<float>;
using TensorD = BasicTensor<double>;
using TensorU8 = BasicTensor<std::uint8_t>;
using TensorView = View<float>;
using ConstTensorView = View<const float>;

// Shape check at an op boundary: names the op, the argument, both shapes.
inline void check_shape(const char* op, const char* arg, const Shape& expected, const Shape& got) {
  DQN_CHECK(expected == got, op, ": ", arg, " must have shape ", expected.str(), ", got ",
            got.str());
}

}  // namespace dqn
