// editor.h — validated, surgical, atomically committed edits of the gateway's config file: the
// live TDC settings (`tdcconfig`, `policyconfig`, the Web UI's TDC and policy pages) and the
// policies' anti-spam and anti-virus settings, and recipient validation (CONTRACT §13).
//
// A ConfigEditor loads the file's text, applies edits to it in memory and commits the result.
// Each edit changes only the bytes it must: the value of a key is replaced in place (keeping its
// quoting), a new key or policy is inserted as whole lines in the document's indentation and
// line endings (or as `key: value` inside a flow mapping), a removed policy takes its lines (and
// the comment lines directly above it) with it. Comments, blank lines and every untouched line
// stay byte-identical; the document is never re-emitted. Every edit is validated by parsing the
// resulting text exactly as the file would be (ParseGatewayConfig); an edit that would not
// validate, or whose layout the editor cannot measure with certainty, returns an operator-facing
// error and changes nothing. Several edits may be made before one Commit().
//
// Commit() writes the text next to the file, fsyncs it and renames it over the file (so readers
// see the old or the new content, never a mix, and the file never goes missing), after keeping
// the previous content as `<file>.prev`. It refuses when the file changed on disk since it was
// loaded (or last committed), so that two administrators never overwrite each other; commits
// from several processes are serialised by an flock on the file. The caller applies the change
// live by publishing the snapshot of Validate() (or reloading text()).
//
// Ownership: a ConfigEditor is a value owned by one caller (an admin request, a CLI command).
// Thread-safety: none; use one editor from one thread at a time. Nothing throws.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/config.h"

namespace tidegate::config {

// "deliver" | "tag" | "quarantine" | "drop": the YAML (and API, form) names of a scan action.
const char* ScanActionName(ScanAction action);
std::optional<ScanAction> ParseScanAction(std::string_view name);
// "tempfail" / "accept": the YAML (and form) names of recipient validation's on_failure.
const char* OnLookupFailureName(OnLookupFailure value);

// An incoming mail policy as the operator describes it (CONTRACT §3). Patterns are written as
// given; the loader normalises them. tdc.intake_address is set iff tdc.mode == kCustom.
struct PolicySpec {
  std::string name;
  std::vector<std::string> recipients;
  std::vector<std::string> senders;
  PolicyTdc tdc;
};

class ConfigEditor {
 public:
  // Reads the file; its text must load (ParseGatewayConfig), else that error is returned.
  static base::Result<ConfigEditor> Load(const std::string& path);
  // An editor on a text that is not a file (cluster mode: the effective configuration, which is
  // committed to etcd, never with Commit()); `path` names it in errors and resolves relative
  // file names. The text must load.
  static base::Result<ConfigEditor> FromText(const std::string& path, std::string text);

  // Each edit returns an error (no change made) when the result would not validate.
  // Enabling without an intake address set is an error; disabling a connector that has no
  // section is a no-op.
  base::Status SetTdcEnabled(bool enabled);
  // A mailbox with a real domain name (no address literal), as the loader requires. Adds the
  // threat_defense_connector section (before incoming_mail_policies) when there is none.
  base::Status SetTdcIntakeAddress(const std::string& address);
  // kDefault is refused for DEFAULT; kCustom needs a valid intake address.
  base::Status SetPolicyTdc(const std::string& policy, PolicyTdc tdc);
  // The policy's anti_spam / anti_virus setting (CONTRACT §10): kDefault "(use default)" (refused
  // for DEFAULT), kOff, or kOn with its actions and subject tag (at most 100 characters), which
  // needs the global engine section. A missing key is inserted before threat_defense_connector
  // (the policy table's column order); kOn is written as one flow mapping.
  base::Status SetPolicyAntiSpam(const std::string& policy, PolicyAntiSpam setting);
  base::Status SetPolicyAntiVirus(const std::string& policy, PolicyAntiVirus setting);
  // Inserts so that the new policy has index `position` (0 = first); DEFAULT stays last, so
  // position may be at most the index of DEFAULT. Names are unique (case-insensitive).
  base::Status AddPolicy(const PolicySpec& spec, std::size_t position);
  // Replaces name, recipients, senders and TDC setting; unchanged values keep their text.
  // DEFAULT cannot be renamed and takes no patterns; no other policy may be named DEFAULT.
  base::Status UpdatePolicy(const std::string& name, const PolicySpec& spec);
  // Moves the policy to index new_position (before DEFAULT, which never moves).
  base::Status MovePolicy(const std::string& name, std::size_t new_position);
  base::Status DeletePolicy(const std::string& name);  // not DEFAULT
  // The whole `recipient_validation` section (CONTRACT §13), written as one flow mapping over
  // several lines (comments inside the old section go with it); appended at the end of the
  // document when missing. Only non-default keys are written. ldap.password is ignored: the
  // password stays in ldap.password_file (written as given; relative names resolve against the
  // configuration's directory), which must exist and hold it. Setting the current value is a
  // no-op (the file's text is kept).
  base::Status SetRecipientValidation(const RecipientValidation& setting);

  // Replaces the whole document (a configuration history rollback, CONTRACT §12); refused (no
  // change) when it would not validate.
  base::Status SetText(std::string text) { return Accept(std::move(text)); }

  const std::string& path() const { return path_; }
  // The edited document.
  const std::string& text() const { return text_; }
  // The text as loaded (or last committed).
  const std::string& original() const { return on_disk_; }
  // The snapshot of text() (always valid: every edit was validated).
  const std::shared_ptr<const GatewayConfig>& config() const { return config_; }
  // Parses text() as the file would be (relative names against the file's directory).
  base::Result<std::shared_ptr<const GatewayConfig>> Validate() const;
  // Writes text() to path.tmp, fsyncs it, keeps the current file as path.prev, renames tmp to
  // path and fsyncs the directory. Refuses (nothing written) if the file's content changed since
  // Load() or the last Commit(). Committing an unchanged text writes nothing.
  base::Status Commit();

 private:
  ConfigEditor(std::string path, std::string text, std::shared_ptr<const GatewayConfig> config);

  // Writes `text` as the value of policy `index`'s `key` (inserted before the first of `before`
  // when missing) and validates the result.
  base::Status EditPolicyKey(std::size_t index, std::string_view key, const std::string& text,
                             std::initializer_list<std::string_view> before);
  // Validates candidate; on success it becomes text() and config().
  base::Status Accept(std::string candidate);

  std::string path_;
  std::string on_disk_;  // the file's content when loaded or last committed
  std::string text_;
  std::shared_ptr<const GatewayConfig> config_;
};

}  // namespace tidegate::config
