#!/usr/bin/env bash
# Builds every plugin in this workspace to a wasm32-wasip2 component and prints the .wasm paths.
#
#   plugins/build.sh                      # into target/wasm-plugins at the repository root
#   TARGET_DIR=/tmp/t plugins/build.sh    # elsewhere
#   plugins/build.sh -p example           # extra arguments go to cargo
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
target_dir="${TARGET_DIR:-$(cd "$here/.." && pwd)/target/wasm-plugins}"

cargo build --manifest-path "$here/Cargo.toml" --target wasm32-wasip2 --release \
    --target-dir "$target_dir" "$@" >&2

out="$target_dir/wasm32-wasip2/release"
# The plugins' package names, read from their manifests (the first `name = ` is the package's).
# Only cdylib members are plugins; a plain library member (`roblox/`) has no .wasm of its own.
members=""
for manifest in "$here"/*/Cargo.toml "$here"/testing/*/Cargo.toml; do
    grep -q '^crate-type = \["cdylib"\]' "$manifest" || continue
    members="$members $(sed -n 's/^name = "\(.*\)"$/\1/p;T;q' "$manifest")"
done
status=0
for name in $members; do
    wasm="$out/${name//-/_}.wasm"
    [ -f "$wasm" ] || continue # a member left out with `-p` and never built
    # A component starts with `\0asm` and layer/version `0d 00 01 00`; a core module has `01 00 00 00`.
    if [ "$(head -c 8 "$wasm" | od -An -tx1 | tr -d ' \n')" != "0061736d0d000100" ]; then
        echo "error: $wasm is not a component" >&2
        status=1
    fi
    echo "$wasm"
done
exit "$status"
