#!/usr/bin/env bash
# The main job on the bundled example, without touching this host's firewall: compile rules/,
# stage both families in a throwaway network namespace, then show a deliberate mistake being
# refused with its file and line. Everything runs in scratch namespaces and temporary directories.
set -euo pipefail
cd "$(dirname "$0")/../.."
nfgit() { node dist/src/cli/main.js "$@"; }
work=$(mktemp -d /tmp/nfgit-demo.XXXXXX)
ns=nfgit-demo-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

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
echo "== nfgit apply --rules rules --netns $ns (a demo namespace, never this host)"
ip netns add "$ns"
nfgit apply --rules rules --netns "$ns" --state-dir "$work/state"
echo
echo "== ip netns exec $ns iptables-save (filter table)"
ip netns exec "$ns" iptables-save -t filter | grep -v '^#'
before=$(ip netns exec "$ns" iptables-save | grep -v '^#')
echo
echo "== a copy of rules/ with a misspelt option in 30-web"
cp -r rules "$work/rules"
sed -i '0,/--dport/s//--dporrt/' "$work/rules/30-web"
if (cd "$work" && node "$OLDPWD/dist/src/cli/main.js" apply --rules rules --netns "$ns" --state-dir "$work/state"); then
  echo "demo: the broken rules were accepted, which is a bug" >&2
  exit 1
fi
after=$(ip netns exec "$ns" iptables-save | grep -v '^#')
[ "$before" = "$after" ] || { echo "demo: the refused apply changed the ruleset, which is a bug" >&2; exit 1; }
echo "(refused as expected: $ns still runs the previous ruleset, and this host's firewall was never touched)"
