#!/usr/bin/env bash
# Installs the SDK from the current build into a fresh prefix, builds sdk/template out of tree with
# find_package(TrellisSDK), and checks that the installed trellis binary loads the result.
set -euo pipefail
build_dir=$1 template_dir=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
test -f "$work/prefix/include/trellis/plugin_abi.h" || { echo "SDK header not installed"; exit 1; }
# A plain build, as an author would make it: none of the test build's flags or sanitizers.
env -u CXXFLAGS -u LDFLAGS cmake -S "$template_dir" -B "$work/template-build" \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/template-build" >"$work/build.log"
export TRELLIS_CACHE_DIR="$work/cache"
out=$("$work/prefix/bin/trellis" --plugin-path "$work/template-build" plugins list --json)
echo "$out"
echo "$out" | grep -q '"name": "my-plugin"' || { echo "template plugin not listed as loaded"; exit 1; }
echo "$out" | grep -q '"my.minimum_metric"' || { echo "template stage missing"; exit 1; }
info=$("$work/prefix/bin/trellis" --plugin-path "$work/template-build" plugins info my-plugin)
echo "$info"
echo "$info" | grep -q 'minimum (float, default 0.9' || { echo "config key not shown"; exit 1; }
echo "sdk out-of-tree: ok"
