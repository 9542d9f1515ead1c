#!/usr/bin/env zsh
# The seed article's first method ("Using iptables-restore", Vincent Bernat, "Staging a Netfilter
# ruleset in a network namespace", 2014), restored to a working script for `npm run bench`.
# Run as:  unshare --net -- zsh -f test/bench/seed.zsh RULES_DIR
#
# The article's listing lost its closing braces and the ip6tables definition; restored here, keeping
# its approach: ip{,6}tables are shell functions appending lines to per-family, per-table temp files,
# then save() assembles iptables-restore input and pipes it to ip{,6}tables-restore.
#
# Changes from the listing, each marked "bench:" below:
#  1. closing braces of the `[[ ... ]] && {` blocks, of iptables(), of save() and of its `for`
#     loop, the `done` of the rule-file loop, and the missing `]` of `[ ! -f ...-userchains ]`;
#  2. ip6tables is defined as a copy of iptables (the functions use ${0}, the function name, in
#     their file names, which is what the article's save() expects: ${work}/ip6tables-TABLE-rules);
#  3. -N: the listing declares `:CHAIN -` AND falls through to also write `-N CHAIN` into the rule
#     body. That cannot load: iptables-restore (1.8.9, nft and legacy) fails with
#     "line N failed: Chain already exists." as soon as a rule file creates a chain. Minimal fix: a
#     `return` after recording the declaration. (-P is left as in the listing: the `:CHAIN POLICY`
#     line plus a `-P CHAIN POLICY` command in the body load fine.)
#  4. the rules directory is the first argument (the listing used ${0%/*}/rules);
#  5. a guard refuses to run outside a scratch network namespace;
#  6. main() is a no-op, so rule files may use the `main COMMAND` prefix (the convention of the
#     article's second method, used by nfgit rule files) for host-only commands.

set -e

# bench: refuse to run anywhere but a fresh network namespace (one whose only interface is lo)
if (( ${#${(f)"$(</proc/self/net/dev)"}} != 3 )); then
  print -u2 "${0:t}: not in a scratch network namespace; run it under: unshare --net --"
  exit 3
fi

work=$(mktemp -d)
trap "rm -rf $work" EXIT

main() { }   # bench: 6

# ❶ Redefine ip{,6}tables
iptables() {
    # Intercept -t
    local table="filter"
    [[ -n ${@[(r)-t]} ]] && {
        # Which table?
        local index=${(k)@[(r)-t]}
        table=${@[(( index + 1 ))]}
        argv=( $argv[1,(( $index - 1 ))] $argv[(( $index + 2 )),$#] )
    }   # bench: 1
    [[ -n ${@[(r)-N]} ]] && {
        # New user chain
        local index=${(k)@[(r)-N]}
        local chain=${@[(( index + 1 ))]}
        print ":${chain} -" >> ${work}/${0}-${table}-userchains
        return 0   # bench: 3
    }   # bench: 1
    [[ -n ${@[(r)-P]} ]] && {
        # Policy for a builtin chain
        local index=${(k)@[(r)-P]}
        local chain=${@[(( index + 1 ))]}
        local policy=${@[(( index + 2 ))]}
        print ":${chain} ${policy}" >> ${work}/${0}-${table}-policy
    }   # bench: 1
    # iptables-restore only handle double quotes
    echo ${${(q-)@}//\'/\"} >> ${work}/${0}-${table}-rules #'
}   # bench: 1
functions[ip6tables]=${functions[iptables]}   # bench: 2

# ❷ Build the final ruleset that can be parsed by ip{,6}tables-restore
save() {
    for table (${work}/${1}-*-rules(:t:s/-rules//)) {
        print "*${${table}#${1}-}"
        [ ! -f ${work}/${table}-policy ] || cat ${work}/${table}-policy
        [ ! -f ${work}/${table}-userchains ] || cat ${work}/${table}-userchains   # bench: 1
        cat ${work}/${table}-rules
        print "COMMIT"
    }   # bench: 1
}   # bench: 1

# ❸ Execute rule files
for rule in $(run-parts --list --regex '^[.a-zA-Z0-9_-]+$' ${1:-${0%/*}/rules}); do   # bench: 4
    . $rule
done   # bench: 1

# ❹ Execute rule files
save iptables  | iptables-restore  || ret=$?
save ip6tables | ip6tables-restore || ret=$?
exit $ret
