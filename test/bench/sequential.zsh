#!/usr/bin/env zsh
# The "sequential iptables" baseline of `npm run bench`: the rule files run with the real
# iptables/ip6tables binaries, one process (and one kernel ruleset round trip) per call.
# ONLY EVER run it in a scratch namespace:  unshare --net -- zsh -f test/bench/sequential.zsh RULES_DIR
emulate -R zsh
# bench: refuse to run anywhere but a fresh network namespace (one whose only interface is lo)
if (( ${#${(f)"$(</proc/self/net/dev)"}} != 3 )); then
  print -u2 "${0:t}: not in a scratch network namespace; run it under: unshare --net --"
  exit 3
fi
setopt errexit
main() { }
for rule in $1/*(N.); do
  . $rule
done
