// tests/under_asan.hpp: kUnderAsan, for tests that only the release suite runs. ASan checks
// memory and the release run checks results; a learning run or a long oracle-parity run takes
// tens of times its release time under ASan while the shorter tests cover the same code there.
#pragma once

namespace dqn::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
#else
inline constexpr bool kUnderAsan = false;
#endif

}  // namespace dqn::test
