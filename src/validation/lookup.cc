// lookup.cc — see lookup.h.
#include "validation/lookup.h"

namespace tidegate::validation {

const char* MethodName(Method method) {
  switch (method) {
    case Method::kLdap:
      return "ldap";
    case Method::kCallAhead:
      return "call-ahead";
    case Method::kNone:
      break;
  }
  return "";
}

}  // namespace tidegate::validation
