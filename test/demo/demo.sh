#!/usr/bin/env bash
# The main job on the bundled example, without touching this host's firewall: compile rules/,
# stage both families in a throwaway network namespace, then show a deliberate mistake being
# refused with its file and line. Everything runs in scratch namespaces and temporary directories.
set -euo pipefail
cd "$(dirname "$0")/../.."
nfgit() { node dist/src/cli/main.js "$@"; }
work=$(mktemp -d /tmp/nfgit-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== nfgit check --rules rules"
nfgit check --rules rules
echo
echo "== nfgit compile --rules rules --out $work/out"
nfgit compile --rules rules --out "$work/out"
echo
echo "== $work/out/rules.v4 (first lines)"
head -n 25 "$work/out/rules.v4"
echo "..."
echo
echo "== a copy of rules/ with a misspelt option in 30-web"
cp -r rules "$work/rules"
sed -i '0,/--dport/s//--dporrt/' "$work/rules/30-web"
if (cd "$work" && node "$OLDPWD/dist/src/cli/main.js" check --rules rules); then
  echo "demo: the broken rules were accepted, which is a bug" >&2
  exit 1
fi
echo "(refused as expected: the host firewall was never touched)"
