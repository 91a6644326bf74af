# Installs what a fresh machine lacks for building the app. Sourced by .ci/serve and .ci/test.
# Every step is skipped when the right version is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# One build cache per machine, shared by every clone: a fresh clone reuses the engine's build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/django-perf-lab/target}"
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$CARGO_TARGET_DIR"

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate pinned in Cargo.toml
TRUNK_VERSION=0.21.14          # 0.22 needs a newer rustc than this machine's

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: a dependency version in its lock file is missing from the registry.
  env -u ICU4X_DATA_DIR cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
  say "installing trunk $TRUNK_VERSION (about 12 minutes, once)"
  env -u ICU4X_DATA_DIR cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# The engine's ICU data: the collator's without the locale tailorings (app/icu-root/mod.rs). Copied
# to one place per machine so every clone compiles ICU's data crates identically and reuses the
# engine's build; a file is copied only when it changed, so the copies keep their dates. Set only
# after the tools above are installed, and unset for their install: trunk depends on an older
# ICU4X whose data crates read the same variable and look for files of their own there.
export ICU4X_DATA_DIR="$HOME/.cache/django-perf-lab/icu-root"
mkdir -p "$ICU4X_DATA_DIR"
for f in app/icu-root/*.rs; do
  cmp -s "$f" "$ICU4X_DATA_DIR/${f##*/}" || cp "$f" "$ICU4X_DATA_DIR/"
done
