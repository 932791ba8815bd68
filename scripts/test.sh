#!/usr/bin/env bash
# Runs every lowmem test: GoogleTest units, lit (dialect, passes,
# conversions, tools, CPU integration), the numpy reference's self-test and
# bounded libFuzzer runs. Ends with one "N passed, N failed" line.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${LOWMEM_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
record() { # name, status
  if [ "$2" -eq 0 ]; then passed=$((passed + $3)); else failed=$((failed + 1)); echo "FAILED: $1"; fi
}

echo "== unit tests"
"$build/bin/LowMemUnitTests" --gtest_brief=1 > "$build/unittests.log" 2>&1
rc=$?; tail -3 "$build/unittests.log"
n=$(grep -oE '[0-9]+ tests? from [0-9]+ test suites? ran' "$build/unittests.log" | grep -oE '^[0-9]+' || echo 0)
record unittests $rc "$n"

echo "== python reference self-test"
/usr/bin/python3 -m unittest discover -s "$root/python/tests" -p "test_*.py" > "$build/pytest.log" 2>&1
rc=$?; tail -1 "$build/pytest.log"
n=$(grep -oE 'Ran [0-9]+' "$build/pytest.log" | grep -oE '[0-9]+' || echo 0)
record python $rc "$n"

echo "== lit"
/usr/lib/llvm-22/bin/lit -sv "$build/test" > "$build/lit.log" 2>&1
rc=$?; grep -E "^(FAIL|XPASS|UNRESOLVED):" "$build/lit.log"; tail -4 "$build/lit.log"
n=$(grep -oE 'Passed *: *[0-9]+' "$build/lit.log" | grep -oE '[0-9]+$' || echo 0)
x=$(grep -oE 'Expectedly Failed *: *[0-9]+' "$build/lit.log" | grep -oE '[0-9]+$' || echo 0)
record lit $rc $((n + x))

echo "== fuzzers (bounded)"
for f in SafetensorsFuzzer NpyFuzzer; do
  corpus="$root/fuzz/corpus/$( [ $f = NpyFuzzer ] && echo npy || echo safetensors)"
  work="$(mktemp -d)"; cp "$corpus"/* "$work"/
  "$build/bin/$f" -max_total_time="${LOWMEM_FUZZ_SECONDS:-30}" "$work" > "$build/$f.log" 2>&1
  rc=$?; tail -1 "$build/$f.log"; rm -rf "$work"
  record "$f" $rc 1
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
