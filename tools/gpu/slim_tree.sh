#!/usr/bin/env bash
# The device tool copies the working tree (tracked and untracked-not-ignored files) and refuses
# more than 64 MiB, carried paths included; tests/data (the model fixtures, the synthetic model,
# the held-out audio) is larger than that on its own. `hide` moves tests/data out of the working
# tree into .device-carry/tests-data (git-ignored) and marks its files skip-worktree, so that git
# sees no change; `restore` moves it back. A device call carries the fixtures it needs, e.g.
# `.device-carry/tests-data/models/tiny-v3-random`, and its command begins with `bash
# tools/gpu/slim_tree.sh link`, which links every carried fixture back into tests/data there.
# Tests and builds here need tests/data: restore right after the call.
set -euo pipefail
cd "$(dirname "$0")/../.."
S=.device-carry/tests-data
case "${1:-}" in
hide)
  if [ ! -d tests/data ]; then echo "tests/data is already hidden"; exit 0; fi
  git ls-files -z tests/data | xargs -0 git update-index --skip-worktree
  mkdir -p .device-carry
  rm -rf "$S"
  mv tests/data "$S"
  echo "tests/data -> $S"
  ;;
restore)
  if [ ! -d "$S" ]; then echo "nothing is hidden"; exit 0; fi
  if [ -e tests/data ]; then echo "tests/data exists: not overwriting it" >&2; exit 1; fi
  mv "$S" tests/data
  git ls-files -z tests/data | xargs -0 git update-index --no-skip-worktree
  echo "$S -> tests/data"
  ;;
link)  # on the device machine
  mkdir -p tests/data/models
  for d in "$S"/models/* "$S"/*; do
    [ -e "$d" ] || continue
    case "$d" in "$S"/models) continue ;; esac
    rel=${d#"$S"/}
    [ -e "tests/data/$rel" ] || ln -s "$PWD/$d" "tests/data/$rel"
  done
  ls tests/data tests/data/models
  ;;
*) echo "usage: $0 hide | restore | link" >&2; exit 2 ;;
esac
