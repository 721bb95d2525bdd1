// The product version and build, compiled in (src/base/version.cc.in, configured by CMake).
// The version is the CMake project's; the build is the git commit the build tree was configured
// from ("unknown" outside a git checkout; a later commit shows after CMake configures again).
#pragma once

#include <string_view>

namespace tidegate::base {

// "0.9.0".
std::string_view Version();
// A short git commit, e.g. "963afc1", or "unknown".
std::string_view Build();

}  // namespace tidegate::base
