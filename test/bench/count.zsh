#!/usr/bin/env zsh
# Counts the rule-adding calls (-A / -I) the rule files make, per family, without touching netfilter:
# `npm run bench` checks that its generated rule directories have exactly the requested size.
# Run as:  zsh -f test/bench/count.zsh RULES_DIR   (prints "V4 V6")
emulate -R zsh
setopt errexit
integer n4=0 n6=0
iptables() { if (( ${argv[(I)-A]} || ${argv[(I)-I]} )); then (( ++n4 )); fi }
ip6tables() { if (( ${argv[(I)-A]} || ${argv[(I)-I]} )); then (( ++n6 )); fi }
main() { }
for rule in $1/*(N.); do
  . $rule
done
print -r -- "$n4 $n6"
