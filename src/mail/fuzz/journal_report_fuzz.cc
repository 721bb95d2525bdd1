// journal_report_fuzz.cc — libFuzzer target for the journal report parser and builder.
//
// Two properties on every input: ParseJournalReport() on arbitrary bytes terminates without a
// memory error and returns an original no longer than its input; and BuildJournalReport() of
// fields carved from the input parses back to the same fields with the original byte-identical.
// Built only with -DTIDEGATE_FUZZ=ON and clang (`make fuzz`, docs/RELIABILITY.md); run e.g.
//   build-fuzz/src/mail/journal_report_fuzz -max_len=65536 -runs=1000000
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "mail/journal_report.h"
#include "mail/mime.h"

namespace {

// Envelope addresses as the gateway has them: no controls, no brackets, no commas.
std::string Address(FuzzedDataProvider& fdp) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789.-_+@=";
  std::string raw = fdp.ConsumeRandomLengthString(64);
  for (char& c : raw) c = kAlphabet[static_cast<unsigned char>(c) % kAlphabet.size()];
  return raw;
}

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tidegate::mail;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  const ParsedJournal any = ParseJournalReport(bytes);
  Check(any.original.size() <= bytes.size());
  Check(any.is_journal || (any.original.empty() && any.recipients.empty()));

  FuzzedDataProvider fdp(data, size);
  JournalInput in;
  in.reporting_host = "gw.example.com";
  in.sender = fdp.ConsumeBool() ? std::string() : Address(fdp);
  const std::size_t count = fdp.ConsumeIntegralInRange<std::size_t>(0, 20);
  for (std::size_t i = 0; i < count; ++i) in.recipients.push_back(Address(fdp));
  in.subject = fdp.ConsumeRandomLengthString(2048);
  in.message_id = fdp.ConsumeRandomLengthString(256);
  in.original_mid = fdp.ConsumeIntegral<std::uint64_t>();
  in.now = tidegate::base::SystemTime(
      std::chrono::seconds(fdp.ConsumeIntegralInRange<std::int64_t>(0, 4000000000)));
  const std::string original = fdp.ConsumeRemainingBytesAsString();
  in.original = original;

  const ParsedJournal back = ParseJournalReport(BuildJournalReport(in));
  Check(back.is_journal);
  Check(back.original == original);
  Check(back.sender == in.sender);
  Check(back.recipients == in.recipients);
  Check(back.subject == SanitizeLine(in.subject));
  Check(back.message_id == SanitizeLine(in.message_id));
  return 0;
}
