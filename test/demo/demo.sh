#!/usr/bin/env bash
# The main job on the bundled example, without touching this host's firewall: a rules repository with
# rules/, commits signed by an admin's SSH key, and the nfgit agent syncing it into a demo network
# namespace; a signed status tag verified with stock git; the fleet status; a second commit with a
# deliberate mistake refused with its file and line while the namespace keeps its ruleset; drift
# repaired; then, at push time, nfgit's pre-receive hook refusing an unsigned push and the same kind
# of mistake, and accepting the fix (post-receive asks the local agent to sync). Everything runs in a
# scratch namespace and a temporary directory, removed on every path.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
nfgit() { node "$root/dist/src/cli/main.js" "$@"; }
work=$(mktemp -d /tmp/nfgit-demo.XXXXXX)
ns=nfgit-demo-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# git as an admin would have it, isolated from this machine's git configuration.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 HOME=$work
export GIT_AUTHOR_NAME="Alice Admin" GIT_AUTHOR_EMAIL=alice@example.net GIT_COMMITTER_NAME="Alice Admin" GIT_COMMITTER_EMAIL=alice@example.net

step "nfgit check --rules rules (compile, then stage both families in a throwaway namespace)"
nfgit check --rules rules

step "a rules repository: $work/firewall.git, with commits signed by the admin's SSH key"
ssh-keygen -q -t ed25519 -N '' -C alice@example.net -f "$work/admin_key"
echo "alice@example.net namespaces=\"git\" $(cut -d' ' -f1,2 "$work/admin_key.pub")" >"$work/allowed_signers"
git init -q --bare -b main "$work/firewall.git"
git init -q -b main "$work/clone"
cp -r rules "$work/clone/rules"
gitc() { git -C "$work/clone" -c gpg.format=ssh -c user.signingkey="$work/admin_key" "$@"; }
gitc add rules
gitc commit -q -S -m "Firewall rules for the demo hosts"
gitc push -q "$work/firewall.git" HEAD:main
# `git -c` goes before the subcommand: after it, git reads it as a revision.
gitc -c gpg.ssh.allowedSignersFile="$work/allowed_signers" log --show-signature -1 2>&1 | sed -n '1,3p' || true

step "the host's signing key for status tags: nfgit keygen"
mkdir -p "$work/host"
nfgit keygen --key "$work/host/signing_key" --host demo | tee "$work/tag_signers"

ip netns add "$ns"
cat >"$work/host/config.yaml" <<EOF
repository:
  url: $work/firewall.git     # a local repository, read in place (an https:// URL works the same)
  branch: main
  path: rules
host: demo
netns: $ns                    # the demo namespace, never this host's own
stateDir: $work/host/state
signing: { key: $work/host/signing_key }
trust:
  requireSignedCommits: true
  allowedSigners: $work/allowed_signers
reconcile: { mode: repair }
EOF
step "the agent's configuration ($work/host/config.yaml)"
cat "$work/host/config.yaml"

step "nfgit sync: verify the commit, compile, stage, apply to $ns, tag"
nfgit sync --config "$work/host/config.yaml" --log-format text

step "ip netns exec $ns iptables-save -t filter"
ip netns exec "$ns" iptables-save -t filter | grep -v '^#'
before=$(ip netns exec "$ns" iptables-save | grep -v '^#')

tag=$(git --git-dir "$work/firewall.git" tag -l 'nfgit/*')
step "the status tag $tag, verified by stock git"
git --git-dir "$work/firewall.git" cat-file tag "$tag" | sed '/BEGIN SSH SIGNATURE/,$d'
git --git-dir "$work/firewall.git" -c gpg.ssh.allowedSignersFile="$work/tag_signers" tag -v "$tag" 2>&1 | grep -i 'signature'

step "a second commit with a misspelt option in rules/30-web"
sed -i '0,/--dport/s//--dporrt/' "$work/clone/rules/30-web"
gitc commit -q -S -am "Web: a typo"
gitc push -q "$work/firewall.git" HEAD:main
set +e
nfgit sync --config "$work/host/config.yaml" --log-format text
code=$?
set -e
echo "(nfgit sync exited $code: the commit is refused)"
[ "$code" = 1 ] || { echo "demo: the broken commit was not refused as it should be, which is a bug" >&2; exit 1; }
after=$(ip netns exec "$ns" iptables-save | grep -v '^#')
[ "$before" = "$after" ] || { echo "demo: the refused commit changed the ruleset, which is a bug" >&2; exit 1; }
echo "($ns still runs the first commit, and this host's firewall was never touched)"

step "nfgit status: every host's commit, last decision and signature, from the tags"
nfgit status --repo "$work/firewall.git" --allowed-signers "$work/tag_signers"

step "drift: someone runs 'iptables -F INPUT' in $ns; the next sync puts the rules back"
ip netns exec "$ns" iptables -F INPUT
nfgit sync --config "$work/host/config.yaml" --log-format text
repaired=$(ip netns exec "$ns" iptables-save | grep -v '^#')
[ "$before" = "$repaired" ] || { echo "demo: drift was not repaired, which is a bug" >&2; exit 1; }
echo "(repaired: $ns runs the applied ruleset again)"

step "push-to-deploy hooks: nfgit hooks install --bare $work/firewall.git"
nfgit hooks install --bare "$work/firewall.git"
# The hook verifies pushed commits against the agent's trust list before it runs anything, and runs
# nfgit check as nobody (this demo runs as root), which must reach its temporary directory.
git --git-dir "$work/firewall.git" config nfgit.config "$work/host/config.yaml"
git --git-dir "$work/firewall.git" config nfgit.trigger "$work/host/run/trigger"
chmod 0711 "$work"
step "an unsigned push is refused before anything of it runs"
git -C "$work/clone" revert --no-edit HEAD >/dev/null
if gitc push "$work/firewall.git" HEAD:main; then
  echo "demo: the pre-receive hook accepted an unsigned push, which is a bug" >&2
  exit 1
fi
git -C "$work/clone" reset -q --hard HEAD~1
step "a signed push with a mistake in rules/20-ssh is refused before it lands"
gitc revert -S --no-edit HEAD >/dev/null
sed -i 's/--hitcount 5 -j DROP/--hitcount 5 -j DRPO/' "$work/clone/rules/20-ssh"
gitc commit -q -S -am "SSH: a typo"
if gitc push "$work/firewall.git" HEAD:main; then
  echo "demo: the pre-receive hook accepted a broken push, which is a bug" >&2
  exit 1
fi
echo "(refused at push time: main still points at the commit the hosts know)"
step "the mistake fixed: the signed push is verified, checked, accepted, and asks the local agent to sync"
mkdir -p "$work/host/run"
sed -i 's/-j DRPO/-j DROP/' "$work/clone/rules/20-ssh"
gitc commit -q -S -am "SSH: fix the typo"
gitc push "$work/firewall.git" HEAD:main
[ -e "$work/host/run/trigger" ] || { echo "demo: the post-receive hook did not create the trigger file, which is a bug" >&2; exit 1; }
