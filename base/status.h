// base/ holds the few types every pagoda module shares: the one error type
// (Status, Result<T>). It never does I/O.
//
// Every fallible call returns a Status or a Result<T>; library exceptions are
// caught at the module that calls the library and turned into a Status, so no
// exception crosses a module boundary. Callers return early on error. Both
// types are [[nodiscard]]: a result dropped without a look does not compile;
// where dropping one is right, the caller says why.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pagoda {

class [[nodiscard]] Status {
 public:
  // A closed set: callers branch on the code, humans read the message.
  enum class Code {
    kOk,
    kInvalidArgument,  // the input is wrong; retrying will not help
    kNotFound,
    kAlreadyExists,
    kConflict,          // someone else changed the thing meanwhile
    kPermissionDenied,  // authenticated, not allowed
    kUnauthenticated,   // credentials missing or rejected
    kUnavailable,       // transient: network, 5xx, 429; worth a retry
    kDeadlineExceeded,  // a wait or a request took too long
    kCorruption,        // stored data fails its own checks
    kIOError,           // the local filesystem or a local process failed
    kUnimplemented,     // this implementation cannot do it; another might
    kInternal,          // a bug: an invariant pagoda relies on does not hold
  };

  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status Conflict(std::string msg) { return {Code::kConflict, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {Code::kUnauthenticated, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) {
    return {Code::kDeadlineExceeded, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status Unimplemented(std::string msg) { return {Code::kUnimplemented, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  // A Status of any code, as another process reported it. kOk gives Ok().
  static Status FromCode(Code code, std::string msg) {
    return code == Code::kOk ? Status() : Status(code, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "not found: deployments.apps \"web\" not found"; "ok" when ok().
  std::string ToString() const;

  // Returns a copy whose message is prefixed by `context` and ": ".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

std::string_view CodeName(Status::Code code);

// A value or the Status that explains its absence.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "a Result built from a Status must carry an error");
    if (status_.ok()) status_ = Status::Internal("Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok()
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace pagoda

// Returns from the calling function when `expr` (a Status) is not OK.
#define PAGODA_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::pagoda::Status pagoda_status_ = (expr);        \
    if (!pagoda_status_.ok()) return pagoda_status_; \
  } while (0)
