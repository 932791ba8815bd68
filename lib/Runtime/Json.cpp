//===- Json.cpp - Small strict JSON parser and writer ---------------------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <system_error>
#include <unordered_set>

namespace lowmem::rt {

//===----------------------------------------------------------------------===//
// UTF-8
//===----------------------------------------------------------------------===//

/// Returns the length of the well-formed UTF-8 sequence starting at \p p (at
/// most \p avail bytes available), or 0 if it is ill-formed.
static size_t utf8SequenceLength(const unsigned char *p, size_t avail) {
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0; // Overlong.
    else if (c == 0xED)
      hi = 0x9F; // Surrogates.
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90; // Overlong.
    else if (c == 0xF4)
      hi = 0x8F; // Above U+10FFFF.
  } else {
    return 0;
  }
  if (avail < len)
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < len; ++i)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return len;
}

bool isValidUtf8(std::string_view s) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  size_t n = s.size();
  for (size_t i = 0; i < n;) {
    size_t len = utf8SequenceLength(p + i, n - i);
    if (len == 0)
      return false;
    i += len;
  }
  return true;
}

static void appendUtf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

//===----------------------------------------------------------------------===//
// JsonValue
//===----------------------------------------------------------------------===//

JsonValue JsonValue::makeBool(bool b) {
  JsonValue v;
  v.valueKind = Kind::Bool;
  v.boolValue = b;
  return v;
}

JsonValue JsonValue::makeNumber(double d) {
  JsonValue v;
  v.valueKind = Kind::Number;
  v.numberValue = d;
  return v;
}

JsonValue JsonValue::makeInteger(int64_t i) {
  JsonValue v;
  v.valueKind = Kind::Number;
  v.numberValue = static_cast<double>(i);
  v.integerLiteral = true;
  v.hasInt64 = true;
  v.int64Value = i;
  return v;
}

JsonValue JsonValue::makeString(std::string s) {
  JsonValue v;
  v.valueKind = Kind::String;
  v.stringValue = std::move(s);
  return v;
}

JsonValue JsonValue::makeArray(Array elements) {
  JsonValue v;
  v.valueKind = Kind::Array;
  v.arrayValue = std::move(elements);
  return v;
}

JsonValue JsonValue::makeObject(Object members) {
  JsonValue v;
  v.valueKind = Kind::Object;
  v.objectValue = std::move(members);
  return v;
}

std::optional<int64_t> JsonValue::getInt64() const {
  if (!isIntegerLiteral() || !hasInt64)
    return std::nullopt;
  return int64Value;
}

const JsonValue *JsonValue::get(std::string_view key) const {
  if (!isObject())
    return nullptr;
  for (const auto &member : objectValue)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

void JsonValue::push(JsonValue element) {
  if (isNull())
    valueKind = Kind::Array;
  if (isArray())
    arrayValue.push_back(std::move(element));
}

void JsonValue::set(std::string key, JsonValue value) {
  if (isNull())
    valueKind = Kind::Object;
  if (!isObject())
    return;
  for (auto &member : objectValue) {
    if (member.first == key) {
      member.second = std::move(value);
      return;
    }
  }
  objectValue.emplace_back(std::move(key), std::move(value));
}

const char *JsonValue::kindName() const {
  switch (valueKind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return "boolean";
  case Kind::Number:
    return "number";
  case Kind::String:
    return "string";
  case Kind::Array:
    return "array";
  case Kind::Object:
    return "object";
  }
  return "unknown";
}

void appendJsonString(std::string &out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      } else {
        out += ch;
      }
    }
  }
  out += '"';
}

static void appendDouble(std::string &out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[64];
  // Shortest round-trip representation; locale-independent.
  auto res = std::to_chars(buf, buf + sizeof(buf), d);
  if (res.ec != std::errc()) {
    // Cannot happen with a 64-byte buffer; fall back to printf.
    int n = std::snprintf(buf, sizeof(buf), "%.17g", d);
    out.append(buf, n > 0 ? static_cast<size_t>(n) : 0);
    return;
  }
  std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  out += text;
  // Keep it a float literal so that it reads back as one.
  if (text.find_first_of(".eE") == std::string_view::npos)
    out += ".0";
}

void JsonValue::serialize(std::string &out) const {
  switch (valueKind) {
  case Kind::Null:
    out += "null";
    return;
  case Kind::Bool:
    out += boolValue ? "true" : "false";
    return;
  case Kind::Number:
    if (integerLiteral && hasInt64) {
      char buf[32];
      auto res = std::to_chars(buf, buf + sizeof(buf), int64Value);
      out.append(buf, static_cast<size_t>(res.ptr - buf));
    } else if (integerLiteral && std::isfinite(numberValue) &&
               numberValue == std::trunc(numberValue)) {
      // An integer literal beyond int64: print all digits of the double.
      char buf[400];
      int n = std::snprintf(buf, sizeof(buf), "%.0f", numberValue);
      if (n > 0 && static_cast<size_t>(n) < sizeof(buf))
        out.append(buf, static_cast<size_t>(n));
      else
        appendDouble(out, numberValue);
    } else {
      appendDouble(out, numberValue);
    }
    return;
  case Kind::String:
    appendJsonString(out, stringValue);
    return;
  case Kind::Array: {
    out += '[';
    bool first = true;
    for (const JsonValue &element : arrayValue) {
      if (!first)
        out += ',';
      first = false;
      element.serialize(out);
    }
    out += ']';
    return;
  }
  case Kind::Object: {
    out += '{';
    bool first = true;
    for (const auto &member : objectValue) {
      if (!first)
        out += ',';
      first = false;
      appendJsonString(out, member.first);
      out += ':';
      member.second.serialize(out);
    }
    out += '}';
    return;
  }
  }
}

std::string JsonValue::serialize() const {
  std::string out;
  serialize(out);
  return out;
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

/// Recursive-descent parser over a byte buffer. Never reads past the end.
class JsonParser {
public:
  JsonParser(std::string_view text, const JsonParseOptions &options)
      : text(text), options(options) {}

  std::string parseDocument(JsonValue &out) {
    if (!parseValue(out, 0))
      return formatError();
    skipWhitespace();
    if (pos != text.size()) {
      errorAt(pos, "unexpected trailing characters after the JSON value");
      return formatError();
    }
    return "";
  }

private:
  std::string_view text;
  JsonParseOptions options;
  size_t pos = 0;
  size_t errorOffset = 0;
  std::string errorMessage;

  std::string formatError() const {
    return "offset " + std::to_string(errorOffset) + ": " + errorMessage;
  }

  bool errorAt(size_t offset, std::string message) {
    errorOffset = offset;
    errorMessage = std::move(message);
    return false;
  }

  bool atEnd() const { return pos >= text.size(); }
  unsigned char peek() const { return static_cast<unsigned char>(text[pos]); }

  void skipWhitespace() {
    while (!atEnd()) {
      char c = text[pos];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        break;
      ++pos;
    }
  }

  static std::string describeByte(unsigned char c) {
    char buf[16];
    if (c >= 0x20 && c < 0x7F)
      std::snprintf(buf, sizeof(buf), "'%c'", c);
    else
      std::snprintf(buf, sizeof(buf), "byte 0x%02X", c);
    return buf;
  }

  bool parseValue(JsonValue &out, unsigned depth) {
    skipWhitespace();
    if (atEnd())
      return errorAt(pos, "unexpected end of input, expected a value");
    unsigned char c = peek();
    switch (c) {
    case '{':
      return parseObject(out, depth + 1);
    case '[':
      return parseArray(out, depth + 1);
    case '"': {
      std::string s;
      if (!parseString(s))
        return false;
      out = JsonValue::makeString(std::move(s));
      return true;
    }
    case 't':
      return parseLiteral("true", JsonValue::makeBool(true), out);
    case 'f':
      return parseLiteral("false", JsonValue::makeBool(false), out);
    case 'n':
      return parseLiteral("null", JsonValue::makeNull(), out);
    default:
      if (c == '-' || (c >= '0' && c <= '9'))
        return parseNumber(out);
      return errorAt(pos,
                     "unexpected " + describeByte(c) + ", expected a value");
    }
  }

  bool parseLiteral(std::string_view word, JsonValue value, JsonValue &out) {
    if (text.substr(pos, word.size()) != word)
      return errorAt(pos,
                     "invalid literal, expected '" + std::string(word) + "'");
    pos += word.size();
    out = std::move(value);
    return true;
  }

  bool checkDepth(unsigned depth) {
    if (depth > kMaxJsonDepth)
      return errorAt(pos, "nesting deeper than " +
                              std::to_string(kMaxJsonDepth) + " levels");
    return true;
  }

  bool parseArray(JsonValue &out, unsigned depth) {
    if (!checkDepth(depth))
      return false;
    ++pos; // '['
    JsonValue::Array elements;
    skipWhitespace();
    if (!atEnd() && peek() == ']') {
      ++pos;
      out = JsonValue::makeArray(std::move(elements));
      return true;
    }
    while (true) {
      JsonValue element;
      if (!parseValue(element, depth))
        return false;
      elements.push_back(std::move(element));
      skipWhitespace();
      if (atEnd())
        return errorAt(pos, "unexpected end of input in array, expected ',' "
                            "or ']'");
      unsigned char c = peek();
      if (c == ',') {
        ++pos;
        continue;
      }
      if (c == ']') {
        ++pos;
        break;
      }
      return errorAt(pos, "unexpected " + describeByte(c) +
                              " in array, expected ',' or ']'");
    }
    out = JsonValue::makeArray(std::move(elements));
    return true;
  }

  bool parseObject(JsonValue &out, unsigned depth) {
    if (!checkDepth(depth))
      return false;
    ++pos; // '{'
    JsonValue::Object members;
    std::unordered_set<std::string> seen;
    skipWhitespace();
    if (!atEnd() && peek() == '}') {
      ++pos;
      out = JsonValue::makeObject(std::move(members));
      return true;
    }
    while (true) {
      skipWhitespace();
      if (atEnd())
        return errorAt(pos, "unexpected end of input in object, expected a "
                            "string key");
      if (peek() != '"')
        return errorAt(pos, "unexpected " + describeByte(peek()) +
                                " in object, expected a string key");
      size_t keyOffset = pos;
      std::string key;
      if (!parseString(key))
        return false;
      if (!options.allowDuplicateKeys && !seen.insert(key).second) {
        std::string quoted;
        appendJsonString(quoted, key);
        return errorAt(keyOffset, "duplicate object key " + quoted);
      }
      skipWhitespace();
      if (atEnd() || peek() != ':')
        return errorAt(pos, "expected ':' after object key");
      ++pos;
      JsonValue value;
      if (!parseValue(value, depth))
        return false;
      members.emplace_back(std::move(key), std::move(value));
      skipWhitespace();
      if (atEnd())
        return errorAt(pos, "unexpected end of input in object, expected ',' "
                            "or '}'");
      unsigned char c = peek();
      if (c == ',') {
        ++pos;
        continue;
      }
      if (c == '}') {
        ++pos;
        break;
      }
      return errorAt(pos, "unexpected " + describeByte(c) +
                              " in object, expected ',' or '}'");
    }
    out = JsonValue::makeObject(std::move(members));
    return true;
  }

  /// Parses 4 hex digits at pos.
  bool parseHex4(uint32_t &value) {
    if (text.size() - pos < 4)
      return errorAt(pos, "truncated \\u escape");
    value = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text[pos + i];
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = c - '0';
      else if (c >= 'a' && c <= 'f')
        digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        digit = c - 'A' + 10;
      else
        return errorAt(pos + i, "invalid hex digit in \\u escape");
      value = value * 16 + digit;
    }
    pos += 4;
    return true;
  }

  bool parseString(std::string &out) {
    size_t start = pos;
    ++pos; // '"'
    while (true) {
      if (atEnd())
        return errorAt(start, "unterminated string");
      unsigned char c = peek();
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20)
        return errorAt(pos, "unescaped control character " + describeByte(c) +
                                " in string");
      if (c == '\\') {
        size_t escapeStart = pos;
        ++pos;
        if (atEnd())
          return errorAt(start, "unterminated string");
        char e = text[pos++];
        switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp;
          if (!parseHex4(cp))
            return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return errorAt(escapeStart, "unpaired low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text.size() - pos < 2 || text[pos] != '\\' ||
                text[pos + 1] != 'u')
              return errorAt(escapeStart,
                             "high surrogate \\u escape not followed by a "
                             "low surrogate");
            pos += 2;
            uint32_t low;
            if (!parseHex4(low))
              return false;
            if (low < 0xDC00 || low > 0xDFFF)
              return errorAt(escapeStart,
                             "high surrogate \\u escape not followed by a "
                             "low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          return errorAt(escapeStart, "invalid escape sequence '\\" +
                                          std::string(1, e) + "'");
        }
        continue;
      }
      size_t len = utf8SequenceLength(
          reinterpret_cast<const unsigned char *>(text.data()) + pos,
          text.size() - pos);
      if (len == 0)
        return errorAt(pos, "invalid UTF-8 in string");
      out.append(text.data() + pos, len);
      pos += len;
    }
  }

  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  bool parseNumber(JsonValue &out) {
    size_t start = pos;
    if (text[pos] == '-')
      ++pos;
    if (atEnd() || !isDigit(text[pos]))
      return errorAt(pos, "invalid number: expected a digit");
    size_t intStart = pos;
    if (text[pos] == '0') {
      ++pos;
      if (!atEnd() && isDigit(text[pos]))
        return errorAt(start, "invalid number: leading zeros are not allowed");
    } else {
      while (!atEnd() && isDigit(text[pos]))
        ++pos;
    }
    size_t intEnd = pos;
    bool isInteger = true;
    size_t fracStart = pos, fracEnd = pos;
    if (!atEnd() && text[pos] == '.') {
      isInteger = false;
      ++pos;
      fracStart = pos;
      if (atEnd() || !isDigit(text[pos]))
        return errorAt(pos, "invalid number: expected a digit after '.'");
      while (!atEnd() && isDigit(text[pos]))
        ++pos;
      fracEnd = pos;
    }
    int64_t exponent = 0;
    if (!atEnd() && (text[pos] == 'e' || text[pos] == 'E')) {
      isInteger = false;
      ++pos;
      bool negative = false;
      if (!atEnd() && (text[pos] == '+' || text[pos] == '-')) {
        negative = text[pos] == '-';
        ++pos;
      }
      if (atEnd() || !isDigit(text[pos]))
        return errorAt(pos, "invalid number: expected a digit in the exponent");
      while (!atEnd() && isDigit(text[pos])) {
        if (exponent < 1000000000)
          exponent = exponent * 10 + (text[pos] - '0');
        ++pos;
      }
      if (negative)
        exponent = -exponent;
    }
    const char *first = text.data() + start;
    const char *last = text.data() + pos;
    JsonValue v;
    v.valueKind = JsonValue::Kind::Number;
    v.integerLiteral = isInteger;
    double d = 0;
    auto res = std::from_chars(first, last, d);
    if (res.ec == std::errc::result_out_of_range) {
      // Decide between overflow and underflow from the decimal magnitude.
      int64_t magnitude;
      size_t firstNonZero = intStart;
      while (firstNonZero < intEnd && text[firstNonZero] == '0')
        ++firstNonZero;
      if (firstNonZero < intEnd) {
        magnitude = static_cast<int64_t>(intEnd - firstNonZero) - 1;
      } else {
        size_t i = fracStart;
        while (i < fracEnd && text[i] == '0')
          ++i;
        magnitude = -static_cast<int64_t>(i - fracStart) - 1;
      }
      if (magnitude + exponent > 0)
        return errorAt(start, "number out of the range of a double");
      d = text[start] == '-' ? -0.0 : 0.0;
    } else if (res.ec != std::errc() || res.ptr != last) {
      return errorAt(start, "invalid number");
    }
    v.numberValue = d;
    if (isInteger) {
      int64_t i = 0;
      auto ires = std::from_chars(first, last, i);
      if (ires.ec == std::errc() && ires.ptr == last) {
        v.hasInt64 = true;
        v.int64Value = i;
      }
    }
    out = std::move(v);
    return true;
  }
};

std::string parseJson(std::string_view text, JsonValue &out,
                      const JsonParseOptions &options) {
  JsonParser parser(text, options);
  JsonValue value;
  std::string err;
  try {
    err = parser.parseDocument(value);
  } catch (const std::bad_alloc &) {
    return "offset 0: out of memory while parsing " +
           std::to_string(text.size()) + " bytes of JSON";
  }
  if (err.empty())
    out = std::move(value);
  return err;
}

} // namespace lowmem::rt
