//===- Json.h - Small strict JSON parser and writer -------------*- C++ -*-===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//
///
/// \file
/// A small, strict JSON (RFC 8259) parser and compact writer for safetensors
/// headers, adapter configs and Hugging Face config files. Depends only on the
/// C++ standard library.
///
/// The parser rejects duplicate object keys, nesting deeper than
/// kMaxJsonDepth, invalid UTF-8, unpaired surrogate escapes, control
/// characters in strings, numbers outside the range of a double, and trailing
/// non-whitespace. Objects keep their keys in document order.
///
//===----------------------------------------------------------------------===//

#ifndef LOWMEM_RUNTIME_JSON_H
#define LOWMEM_RUNTIME_JSON_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lowmem::rt {

/// The deepest nesting of arrays and objects parseJson accepts.
constexpr unsigned kMaxJsonDepth = 64;

/// A JSON value: null, boolean, number, string, array or object.
class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<JsonValue>;
  using Object = std::vector<std::pair<std::string, JsonValue>>;

  /// Constructs null.
  JsonValue() = default;

  static JsonValue makeNull() { return JsonValue(); }
  static JsonValue makeBool(bool b);
  /// A number written as a floating-point literal.
  static JsonValue makeNumber(double d);
  /// A number written as an integer literal.
  static JsonValue makeInteger(int64_t i);
  static JsonValue makeString(std::string s);
  static JsonValue makeArray(Array elements = {});
  static JsonValue makeObject(Object members = {});

  Kind kind() const { return valueKind; }
  bool isNull() const { return valueKind == Kind::Null; }
  bool isBool() const { return valueKind == Kind::Bool; }
  bool isNumber() const { return valueKind == Kind::Number; }
  bool isString() const { return valueKind == Kind::String; }
  bool isArray() const { return valueKind == Kind::Array; }
  bool isObject() const { return valueKind == Kind::Object; }

  /// Returns the boolean; false unless isBool().
  bool getBool() const { return boolValue; }
  /// Returns the number as a double (the nearest double for integer
  /// literals too); 0 unless isNumber().
  double getNumber() const { return numberValue; }
  /// True for numbers written without fraction or exponent ("12", "-3"),
  /// even when they do not fit in 64 bits.
  bool isIntegerLiteral() const { return isNumber() && integerLiteral; }
  /// Returns the exact value of an integer literal that fits in int64_t;
  /// std::nullopt otherwise (not a number, a float literal, or too large).
  std::optional<int64_t> getInt64() const;

  /// Returns the string; empty unless isString().
  const std::string &getString() const { return stringValue; }
  /// Returns the elements; empty unless isArray().
  const Array &getArray() const { return arrayValue; }
  Array &getArray() { return arrayValue; }
  /// Returns the members in document order; empty unless isObject().
  const Object &getObject() const { return objectValue; }
  Object &getObject() { return objectValue; }

  /// Returns the member named \p key of an object, or nullptr if this is not
  /// an object or has no such member.
  const JsonValue *get(std::string_view key) const;
  /// Appends to an array (turning null into an empty array first).
  void push(JsonValue element);
  /// Sets member \p key of an object (turning null into an empty object
  /// first), replacing an existing member in place or appending a new one.
  void set(std::string key, JsonValue value);

  /// Returns a name for the kind ("null", "boolean", "number", "string",
  /// "array", "object") for error messages.
  const char *kindName() const;

  /// Writes compact JSON: no whitespace, object keys in order, integer
  /// literals exactly, other numbers as the shortest text that reads back as
  /// the same double (always with a '.' or exponent, so they stay float
  /// literals), non-finite numbers as null, strings with '"', '\\' and
  /// control characters escaped and all other bytes copied verbatim (so
  /// strings must be valid UTF-8 for the output to be valid JSON).
  std::string serialize() const;
  void serialize(std::string &out) const;

private:
  Kind valueKind = Kind::Null;
  bool boolValue = false;
  bool integerLiteral = false;
  bool hasInt64 = false;
  int64_t int64Value = 0;
  double numberValue = 0;
  std::string stringValue;
  Array arrayValue;
  Object objectValue;

  friend class JsonParser;
};

/// Options for parseJson.
struct JsonParseOptions {
  /// Keep every member of an object whose key repeats (in document order)
  /// instead of rejecting the document, for callers that report duplicates
  /// in their own terms.
  bool allowDuplicateKeys = false;
};

/// Parses \p text as one JSON value into \p out. Returns "" on success or
/// "offset K: message" where K is the byte offset of the error; \p out is
/// unchanged on failure.
std::string parseJson(std::string_view text, JsonValue &out,
                      const JsonParseOptions &options = {});

/// True if \p s is well-formed UTF-8 (no overlong forms, no surrogates, no
/// code points above U+10FFFF).
bool isValidUtf8(std::string_view s);

/// Appends \p s to \p out as a quoted JSON string literal.
void appendJsonString(std::string &out, std::string_view s);

} // namespace lowmem::rt

#endif // LOWMEM_RUNTIME_JSON_H
