#!/usr/bin/env zsh
# The "zsh no-op floor" of `npm run bench`: source the rule files in one `zsh -f` with
# iptables, ip6tables and main as no-op functions. This is what any compiler that intercepts the
# calls in zsh pays at least, before recording anything.
# Run as:  zsh -f test/bench/floor.zsh RULES_DIR
emulate -R zsh
setopt errexit
iptables() { }
ip6tables() { }
main() { }
for rule in $1/*(N.); do
  . $rule
done
