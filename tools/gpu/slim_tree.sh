#!/usr/bin/env bash
# The device tool copies the working tree (tracked and untracked-not-ignored files) and refuses
# more than 64 MiB, carried paths included; tests/data (the model fixtures, the synthetic model,
# the held-out audio) is larger than that on its own. `hide` moves tests/data into
# .device-carry/tests-data (git-ignored) and marks its files skip-worktree so that git sees no
# change; `restore` puts it back. A device call carries the fixtures it needs, e.g.
# `.device-carry/tests-data/models/tiny-v3-random`, and its command links them in:
# `rm -rf tests/data; ln -s $PWD/.device-carry/tests-data tests/data` (the tool creates empty folders
# for the hidden files' paths there). While hidden, tests here cannot find their
# fixtures (a link left at tests/data does not help: the tool follows it and counts it all).
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
  if [ -L tests/data ]; then rm tests/data; fi
  if [ -e tests/data ]; then echo "tests/data exists: not overwriting it" >&2; exit 1; fi
  mv "$S" tests/data
  git ls-files -z tests/data | xargs -0 git update-index --no-skip-worktree
  echo "$S -> tests/data"
  ;;
*) echo "usage: $0 hide | restore" >&2; exit 2 ;;
esac
