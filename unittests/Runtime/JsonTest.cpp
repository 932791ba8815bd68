//===- JsonTest.cpp - Tests for the runtime JSON parser and writer --------===//
//
// Part of the lowmem project.
//
//===----------------------------------------------------------------------===//

#include "lowmem/Runtime/Json.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>

using namespace lowmem::rt;

namespace {

JsonValue parseOk(std::string_view text) {
  JsonValue v;
  std::string err = parseJson(text, v);
  EXPECT_EQ(err, "") << "input: " << text;
  return v;
}

std::string parseErr(std::string_view text) {
  JsonValue v;
  std::string err = parseJson(text, v);
  EXPECT_NE(err, "") << "input unexpectedly parsed: " << text;
  return err;
}

TEST(JsonTest, Scalars) {
  EXPECT_TRUE(parseOk("null").isNull());
  EXPECT_TRUE(parseOk("true").getBool());
  EXPECT_FALSE(parseOk(" false ").getBool());
  EXPECT_TRUE(parseOk("false").isBool());
  JsonValue s = parseOk("\"abc\"");
  ASSERT_TRUE(s.isString());
  EXPECT_EQ(s.getString(), "abc");
}

TEST(JsonTest, Integers) {
  JsonValue v = parseOk("12");
  ASSERT_TRUE(v.isNumber());
  EXPECT_TRUE(v.isIntegerLiteral());
  EXPECT_EQ(v.getInt64(), 12);
  EXPECT_EQ(v.getNumber(), 12.0);

  EXPECT_EQ(parseOk("-0").getInt64(), 0);
  EXPECT_EQ(parseOk("9223372036854775807").getInt64(),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parseOk("-9223372036854775808").getInt64(),
            std::numeric_limits<int64_t>::min());

  // Integer literal beyond int64: still an integer literal, no exact value.
  JsonValue big = parseOk("9223372036854775808");
  EXPECT_TRUE(big.isIntegerLiteral());
  EXPECT_FALSE(big.getInt64().has_value());
  EXPECT_EQ(big.getNumber(), 9223372036854775808.0);
}

TEST(JsonTest, Floats) {
  JsonValue v = parseOk("1.5");
  EXPECT_FALSE(v.isIntegerLiteral());
  EXPECT_FALSE(v.getInt64().has_value());
  EXPECT_EQ(v.getNumber(), 1.5);
  EXPECT_EQ(parseOk("-2.5e3").getNumber(), -2500.0);
  EXPECT_EQ(parseOk("1E+2").getNumber(), 100.0);
  EXPECT_FALSE(parseOk("1e2").isIntegerLiteral());
  EXPECT_EQ(parseOk("0.1").getNumber(), 0.1);
  EXPECT_EQ(parseOk("1e-400").getNumber(), 0.0);
  EXPECT_TRUE(std::signbit(parseOk("-1e-400").getNumber()));
  EXPECT_EQ(
      parseOk("0.000000000000000000000000000000000000001e-300").getNumber(),
      0.0);
}

TEST(JsonTest, NumberErrors) {
  EXPECT_EQ(parseErr("01"), "offset 0: invalid number: leading zeros are not "
                            "allowed");
  EXPECT_EQ(parseErr("1."), "offset 2: invalid number: expected a digit after "
                            "'.'");
  EXPECT_EQ(parseErr("-"), "offset 1: invalid number: expected a digit");
  EXPECT_EQ(parseErr("1e"), "offset 2: invalid number: expected a digit in "
                            "the exponent");
  EXPECT_EQ(parseErr("+1"), "offset 0: unexpected '+', expected a value");
  EXPECT_EQ(parseErr(".5"), "offset 0: unexpected '.', expected a value");
  EXPECT_EQ(parseErr("1e400"), "offset 0: number out of the range of a double");
  EXPECT_EQ(parseErr("-1e400"),
            "offset 0: number out of the range of a double");
  EXPECT_EQ(parseErr("NaN"), "offset 0: unexpected 'N', expected a value");
  EXPECT_EQ(parseErr("Infinity"), "offset 0: unexpected 'I', expected a value");
}

TEST(JsonTest, ArraysAndObjectsKeepOrder) {
  JsonValue v = parseOk(" { \"b\" : [1, 2.5, \"x\", null, true, {}, []],"
                        " \"a\": {\"z\": 1, \"y\": 2} } ");
  ASSERT_TRUE(v.isObject());
  const JsonValue::Object &members = v.getObject();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[0].first, "b");
  EXPECT_EQ(members[1].first, "a");
  const JsonValue *b = v.get("b");
  ASSERT_TRUE(b && b->isArray());
  ASSERT_EQ(b->getArray().size(), 7u);
  EXPECT_EQ(b->getArray()[0].getInt64(), 1);
  EXPECT_TRUE(b->getArray()[5].isObject());
  EXPECT_TRUE(b->getArray()[6].isArray());
  const JsonValue *a = v.get("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->getObject()[0].first, "z");
  EXPECT_EQ(v.get("missing"), nullptr);
  EXPECT_EQ(b->get("x"), nullptr);
  EXPECT_EQ(v.serialize(),
            "{\"b\":[1,2.5,\"x\",null,true,{},[]],\"a\":{\"z\":1,\"y\":2}}");
}

TEST(JsonTest, StructuralErrors) {
  EXPECT_EQ(parseErr(""),
            "offset 0: unexpected end of input, expected a value");
  EXPECT_EQ(parseErr("   "),
            "offset 3: unexpected end of input, expected a value");
  EXPECT_EQ(parseErr("[1,]"), "offset 3: unexpected ']', expected a value");
  EXPECT_EQ(parseErr("[1 2]"),
            "offset 3: unexpected '2' in array, expected ',' or ']'");
  EXPECT_EQ(parseErr("[1"),
            "offset 2: unexpected end of input in array, expected ',' or ']'");
  EXPECT_EQ(parseErr("{\"a\":1,}"),
            "offset 7: unexpected '}' in object, expected a string key");
  EXPECT_EQ(parseErr("{a:1}"),
            "offset 1: unexpected 'a' in object, expected a string key");
  EXPECT_EQ(parseErr("{\"a\" 1}"), "offset 5: expected ':' after object key");
  EXPECT_EQ(parseErr("{\"a\":1 \"b\":2}"),
            "offset 7: unexpected '\"' in object, expected ',' or '}'");
  EXPECT_EQ(parseErr("{\"a\":1"), "offset 6: unexpected end of input in "
                                  "object, expected ',' or '}'");
  EXPECT_EQ(parseErr("tru"), "offset 0: invalid literal, expected 'true'");
  EXPECT_EQ(parseErr("nul"), "offset 0: invalid literal, expected 'null'");
  EXPECT_EQ(parseErr("falsey"), "offset 5: unexpected trailing characters "
                                "after the JSON value");
}

TEST(JsonTest, TrailingGarbage) {
  EXPECT_TRUE(parseOk("{} \t\r\n").isObject());
  EXPECT_EQ(parseErr("{} x"),
            "offset 3: unexpected trailing characters after the JSON value");
  EXPECT_EQ(parseErr("1 2"),
            "offset 2: unexpected trailing characters after the JSON value");
  EXPECT_EQ(parseErr(std::string_view("{}\0", 3)),
            "offset 2: unexpected trailing characters after the JSON value");
}

TEST(JsonTest, DuplicateKeys) {
  EXPECT_EQ(parseErr("{\"a\":1,\"b\":2,\"a\":3}"),
            "offset 13: duplicate object key \"a\"");
  EXPECT_EQ(parseErr("[{\"k\":{\"x\":1,\"x\":1}}]"),
            "offset 13: duplicate object key \"x\"");
  // Keys that differ only after an escape are different.
  EXPECT_TRUE(parseOk("{\"a\":1,\"\\u0061b\":2}").isObject());
  // Duplicates are kept when the caller asks for them.
  JsonValue v;
  JsonParseOptions options;
  options.allowDuplicateKeys = true;
  EXPECT_EQ(parseJson("{\"a\":1,\"a\":2}", v, options), "");
  EXPECT_EQ(v.getObject().size(), 2u);
}

TEST(JsonTest, Depth) {
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  parseOk(ok);
  std::string tooDeep(kMaxJsonDepth + 1, '[');
  tooDeep += std::string(kMaxJsonDepth + 1, ']');
  EXPECT_EQ(parseErr(tooDeep), "offset 64: nesting deeper than 64 levels");
  std::string objects;
  for (unsigned i = 0; i <= kMaxJsonDepth; ++i)
    objects += "{\"a\":";
  EXPECT_EQ(parseErr(objects), "offset 320: nesting deeper than 64 levels");
  // Deep garbage must not overflow the stack.
  parseErr(std::string(1000000, '['));
}

TEST(JsonTest, Escapes) {
  EXPECT_EQ(parseOk("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"").getString(),
            "\" \\ / \b \f \n \r \t");
  EXPECT_EQ(parseOk("\"\\u0041\\u00e9\\u20AC\"").getString(),
            "A\xC3\xA9\xE2\x82\xAC");
  // U+1F600 as a surrogate pair.
  EXPECT_EQ(parseOk("\"\\uD83D\\uDE00\"").getString(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parseOk("\"\\u0000\"").getString(), std::string(1, '\0'));

  EXPECT_EQ(parseErr("\"\\x\""), "offset 1: invalid escape sequence '\\x'");
  EXPECT_EQ(parseErr("\"\\u12G4\""),
            "offset 5: invalid hex digit in \\u escape");
  EXPECT_EQ(parseErr("\"\\u12"), "offset 3: truncated \\u escape");
  EXPECT_EQ(parseErr("\"\\uD83D\""), "offset 1: high surrogate \\u escape not "
                                     "followed by a low surrogate");
  EXPECT_EQ(parseErr("\"\\uD83D\\u0041\""),
            "offset 1: high surrogate \\u escape not followed by a low "
            "surrogate");
  EXPECT_EQ(parseErr("\"\\uDE00\""),
            "offset 1: unpaired low surrogate in \\u escape");
  EXPECT_EQ(parseErr("\"abc"), "offset 0: unterminated string");
  EXPECT_EQ(parseErr("\"abc\\"), "offset 0: unterminated string");
  EXPECT_EQ(parseErr("\"a\nb\""),
            "offset 2: unescaped control character byte 0x0A in string");
}

TEST(JsonTest, Utf8Validation) {
  EXPECT_EQ(parseOk("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"").getString(),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(parseErr("\"\xFF\""), "offset 1: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\"\xC0\xAF\""), "offset 1: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\"\xE0\x80\xAF\""), "offset 1: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\"\xED\xA0\x80\""), "offset 1: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\"\xF4\x90\x80\x80\""),
            "offset 1: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\"a\xC3\""), "offset 2: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\"\x80\""), "offset 1: invalid UTF-8 in string");
  EXPECT_EQ(parseErr("\xC3\xA9"),
            "offset 0: unexpected byte 0xC3, expected a value");

  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("plain \xC3\xA9"));
  EXPECT_FALSE(isValidUtf8("\xC3"));
  EXPECT_FALSE(isValidUtf8("\xF8\x88\x80\x80\x80"));
}

TEST(JsonTest, SerializeNumbers) {
  EXPECT_EQ(JsonValue::makeInteger(-42).serialize(), "-42");
  EXPECT_EQ(
      JsonValue::makeInteger(std::numeric_limits<int64_t>::min()).serialize(),
      "-9223372036854775808");
  EXPECT_EQ(JsonValue::makeNumber(0.1).serialize(), "0.1");
  EXPECT_EQ(JsonValue::makeNumber(2.0).serialize(), "2.0");
  EXPECT_EQ(JsonValue::makeNumber(1e300).serialize(), "1e+300");
  EXPECT_EQ(JsonValue::makeNumber(std::nan("")).serialize(), "null");
  EXPECT_EQ(JsonValue::makeNumber(INFINITY).serialize(), "null");
  EXPECT_EQ(parseOk("9223372036854775808").serialize(), "9223372036854775808");

  // Doubles and float32 values survive a round trip exactly.
  for (double d : {0.1, 1.0 / 3.0, 6.02214076e23, -1e-310, 5e-324,
                   static_cast<double>(0.1f), 1.7976931348623157e308}) {
    JsonValue back = parseOk(JsonValue::makeNumber(d).serialize());
    EXPECT_EQ(back.getNumber(), d);
    EXPECT_FALSE(back.isIntegerLiteral());
  }
}

TEST(JsonTest, SerializeStrings) {
  EXPECT_EQ(JsonValue::makeString("a\"b\\c\n\x01\x7F\xC3\xA9").serialize(),
            "\"a\\\"b\\\\c\\n\\u0001\\u007f\xC3\xA9\"");
  std::string all;
  for (int c = 1; c < 128; ++c)
    all += static_cast<char>(c);
  all += "\xF0\x9F\x98\x80";
  EXPECT_EQ(parseOk(JsonValue::makeString(all).serialize()).getString(), all);
}

TEST(JsonTest, BuildAndRoundTrip) {
  JsonValue root;
  root.set("r", JsonValue::makeInteger(16));
  root.set("lora_alpha", JsonValue::makeNumber(32.5));
  JsonValue modules;
  modules.push(JsonValue::makeString("q_proj"));
  modules.push(JsonValue::makeString("v_proj"));
  root.set("target_modules", modules);
  root.set("bias", JsonValue::makeNull());
  root.set("r", JsonValue::makeInteger(8)); // Replaces in place.
  std::string text = root.serialize();
  EXPECT_EQ(text, "{\"r\":8,\"lora_alpha\":32.5,\"target_modules\":[\"q_proj\","
                  "\"v_proj\"],\"bias\":null}");
  JsonValue back = parseOk(text);
  EXPECT_EQ(back.serialize(), text);
  EXPECT_EQ(back.get("r")->getInt64(), 8);
}

TEST(JsonTest, FailureLeavesOutputUntouched) {
  JsonValue v = JsonValue::makeInteger(7);
  EXPECT_NE(parseJson("[1,", v), "");
  EXPECT_EQ(v.getInt64(), 7);
}

TEST(JsonTest, KindNames) {
  EXPECT_STREQ(JsonValue().kindName(), "null");
  EXPECT_STREQ(JsonValue::makeBool(true).kindName(), "boolean");
  EXPECT_STREQ(JsonValue::makeInteger(1).kindName(), "number");
  EXPECT_STREQ(JsonValue::makeString("").kindName(), "string");
  EXPECT_STREQ(JsonValue::makeArray().kindName(), "array");
  EXPECT_STREQ(JsonValue::makeObject().kindName(), "object");
}

} // namespace
