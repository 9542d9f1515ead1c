# shellcheck shell=sh
# nfgit-hook-lib.sh: code shared by nfgit's git hooks (pre-receive, post-receive, pre-push).
# Sourced, not run: the hooks find it next to themselves, and `nfgit hooks install` copies it there.
#
# Git configuration read (all optional):
#   nfgit.path            rules directory in the repository (default: rules)
#   nfgit.branches        branches to check and to trigger on, space-separated (default: all)
#   nfgit.hosts           host names to check the rules for, one `nfgit check --host H` each
#   nfgit.command         how to run nfgit, e.g. `node /opt/nfgit/dist/src/cli/main.js`
#   nfgit.allowUnchecked  true: accept a push when nfgit check cannot run here (exit 3)
#   nfgit.stateDir        (post-receive) the local agent's state directory (default: /var/lib/nfgit)

# Prints a message for the pusher on stderr (git shows it as `remote: …` for server-side hooks).
nfgit_say() {
	printf '%s\n' "$*" >&2
}

# Prints git config KEY, or DEFAULT when it is not set.
nfgit_config() {
	nfgit_value=$(git config --get "$1" 2>/dev/null) || nfgit_value=$2
	printf '%s\n' "$nfgit_value"
}

# True when OID is all zeros: git's way of saying a ref is created (old) or deleted (new).
# Works for SHA-1 and SHA-256 repositories alike.
nfgit_is_zero() {
	case $1 in
	*[!0]*) return 1 ;;
	*) return 0 ;;
	esac
}

# True when REF is a branch nfgit watches: any branch, or one listed in nfgit.branches (as `main`
# or `refs/heads/main`).
nfgit_watched_branch() {
	case $1 in
	refs/heads/*) ;;
	*) return 1 ;;
	esac
	nfgit_branches=$(nfgit_config nfgit.branches '')
	[ -n "$nfgit_branches" ] || return 0
	for nfgit_b in $nfgit_branches; do
		if [ "$nfgit_b" = "${1#refs/heads/}" ] || [ "$nfgit_b" = "$1" ]; then
			return 0
		fi
	done
	return 1
}

# Sets nfgit_cmd to the command that runs nfgit: $NFGIT, git config nfgit.command, `nfgit` on PATH,
# then (when $1 is `npx`) `npx --no-install nfgit`. Returns 1 with nfgit_cmd empty when none is found.
nfgit_find_command() {
	nfgit_cmd=${NFGIT:-}
	[ -n "$nfgit_cmd" ] || nfgit_cmd=$(nfgit_config nfgit.command '')
	if [ -z "$nfgit_cmd" ] && command -v nfgit >/dev/null 2>&1; then
		nfgit_cmd=nfgit
	fi
	if [ -z "$nfgit_cmd" ] && [ "${1:-}" = npx ] && command -v npx >/dev/null 2>&1; then
		nfgit_cmd='npx --no-install nfgit'
	fi
	[ -n "$nfgit_cmd" ]
}

# Makes the hook's temporary directory (nfgit_tmp) and removes it on every way out of the hook.
nfgit_make_tmp() {
	nfgit_tmp=$(mktemp -d "${TMPDIR:-/tmp}/nfgit-hook.XXXXXX")
	trap 'rm -rf "$nfgit_tmp"' EXIT
	# A signal runs exit, so the EXIT trap above still cleans up.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# Prefixes every line of stdin with $1 (nothing when empty) and writes it on stderr.
nfgit_prefix_lines() {
	while IFS= read -r nfgit_line || [ -n "$nfgit_line" ]; do
		printf '%s%s\n' "$1" "$nfgit_line" >&2
	done
}

# Checks the rules of commit OID ($1) for ref REF ($2) with nfgit check, once per host of nfgit.hosts
# (or once for the default host). Prints nfgit's `FILE:LINE: message` lines on stderr.
# Returns 0 when the rules pass, 1 when they are refused, 3 when the check could not run.
# Needs nfgit_tmp (nfgit_make_tmp) and nfgit_cmd (nfgit_find_command).
#
# The rules are read with stock git only (ls-tree, archive): in a pre-receive hook the pushed objects
# are still in git's quarantine directory, which git finds through the environment it gives the hook
# (GIT_QUARANTINE_PATH, GIT_ALTERNATE_OBJECT_DIRECTORIES) and other readers of the repository do not.
nfgit_check_commit() {
	nfgit_oid=$1
	nfgit_ref=$2
	nfgit_path=$(nfgit_config nfgit.path rules)
	# `rules/` and `rules` name the same directory; git ls-tree wants no trailing slash.
	while [ "$nfgit_path" != "${nfgit_path%/}" ] && [ "$nfgit_path" != / ]; do
		nfgit_path=${nfgit_path%/}
	done
	nfgit_short=$(git rev-parse --short "$nfgit_oid")

	nfgit_spec="$nfgit_oid:$nfgit_path"
	[ "$nfgit_path" != . ] || nfgit_spec="$nfgit_oid^{tree}"
	nfgit_type=$(git cat-file -t "$nfgit_spec" 2>/dev/null) || nfgit_type=none
	if [ "$nfgit_type" != tree ]; then
		nfgit_say "$nfgit_path: commit $nfgit_short of $nfgit_ref has no directory $nfgit_path/ (git config nfgit.path): the rule files must be in it"
		return 1
	fi

	# Refused as the agent refuses them: a symlink could reach files outside the rules directory, a
	# submodule's content is not in this commit.
	nfgit_bad=0
	nfgit_list="$nfgit_tmp/ls-tree"
	git ls-tree -r --full-tree "$nfgit_oid" -- "$nfgit_path" >"$nfgit_list"
	nfgit_tab=$(printf '\t')
	while IFS= read -r nfgit_entry; do
		nfgit_file=${nfgit_entry#*"$nfgit_tab"}
		case ${nfgit_entry%% *} in
		120000)
			nfgit_say "$nfgit_file: is a symbolic link: nfgit refuses symlinks in the rules directory (they could reach files outside it); commit the file itself"
			nfgit_bad=1
			;;
		160000)
			nfgit_say "$nfgit_file: is a git submodule: nfgit refuses submodules in the rules directory (their content is not in this commit); copy the files in"
			nfgit_bad=1
			;;
		esac
	done <"$nfgit_list"
	[ "$nfgit_bad" = 0 ] || return 1

	# The commit's files go to a fresh directory; nfgit runs there with the path as the repository
	# names it, so that its messages read `rules/30-web:14: …` as in the pusher's checkout.
	nfgit_dir="$nfgit_tmp/$nfgit_oid"
	rm -rf "$nfgit_dir"
	mkdir "$nfgit_dir"
	git archive --format=tar -o "$nfgit_tmp/rules.tar" "$nfgit_oid" -- "$nfgit_path"
	tar -x -f "$nfgit_tmp/rules.tar" -C "$nfgit_dir"
	rm -f "$nfgit_tmp/rules.tar"

	nfgit_result=0
	nfgit_hosts=$(nfgit_config nfgit.hosts '')
	for nfgit_host in ${nfgit_hosts:--}; do
		if [ "$nfgit_host" = - ]; then
			set -- check --rules "$nfgit_path"
			nfgit_prefix=
		else
			set -- check --rules "$nfgit_path" --host "$nfgit_host"
			nfgit_prefix="$nfgit_host: "
		fi
		nfgit_rc=0
		# nfgit_cmd is a command line (`node /path/main.js`): split into words on purpose.
		# shellcheck disable=SC2086
		(cd "$nfgit_dir" && exec $nfgit_cmd "$@") >"$nfgit_tmp/out" 2>&1 </dev/null || nfgit_rc=$?
		case $nfgit_rc in
		0) ;;
		1 | 2)
			nfgit_prefix_lines "$nfgit_prefix" <"$nfgit_tmp/out"
			nfgit_result=1
			;;
		3)
			nfgit_prefix_lines "$nfgit_prefix" <"$nfgit_tmp/out"
			nfgit_say "nfgit: ${nfgit_prefix}nfgit check could not run here (exit 3: it needs root or unprivileged user namespaces, zsh and iptables); the rules of $nfgit_ref ($nfgit_short) are not checked"
			[ "$nfgit_result" = 1 ] || nfgit_result=3
			;;
		126 | 127)
			nfgit_prefix_lines "" <"$nfgit_tmp/out"
			nfgit_say "nfgit: could not run '$nfgit_cmd' (exit $nfgit_rc: not found or not executable; set NFGIT or git config nfgit.command); the rules of $nfgit_ref ($nfgit_short) are not checked"
			[ "$nfgit_result" = 1 ] || nfgit_result=3
			break # the same for every host
			;;
		*)
			nfgit_prefix_lines "$nfgit_prefix" <"$nfgit_tmp/out"
			nfgit_say "nfgit: ${nfgit_prefix}nfgit check failed (exit $nfgit_rc) on $nfgit_ref ($nfgit_short)"
			nfgit_result=1
			;;
		esac
	done
	rm -rf "$nfgit_dir"
	return "$nfgit_result"
}

# Checks every branch update read on stdin as `OLD NEW REF` (pre-receive) or `LOCAL_REF LOCAL_OID
# REMOTE_REF REMOTE_OID` (pre-push; $1 is the hook's name): in both, the second field is the commit
# pushed and the third the ref it goes to. Deletions, tags and branches that nfgit does not watch pass
# unchecked. Reports every ref, then returns 0 to accept the push or 1 to refuse it.
nfgit_check_pushed_refs() {
	nfgit_hook=$1
	nfgit_refused=
	nfgit_unchecked=
	nfgit_cmd=
	nfgit_searched=no
	nfgit_make_tmp
	cat >"$nfgit_tmp/stdin"
	while read -r _ nfgit_new nfgit_target _; do
		nfgit_is_zero "$nfgit_new" && continue # a deletion
		case $nfgit_target in
		refs/tags/*) continue ;; # tags, among them the agents' own status tags, are not rules
		esac
		nfgit_watched_branch "$nfgit_target" || continue
		if [ "$nfgit_searched" = no ]; then
			nfgit_searched=yes
			nfgit_npx=
			[ "$nfgit_hook" != pre-push ] || nfgit_npx=npx
			nfgit_find_command "$nfgit_npx" ||
				nfgit_say "nfgit: nfgit not found: set NFGIT, or git config nfgit.command (e.g. 'node /opt/nfgit/dist/src/cli/main.js'), or put nfgit on PATH"
		fi
		nfgit_rc=0
		if [ -z "$nfgit_cmd" ]; then
			nfgit_rc=3
		else
			nfgit_check_commit "$nfgit_new" "$nfgit_target" || nfgit_rc=$?
		fi
		nfgit_short=$(git rev-parse --short "$nfgit_new")
		case $nfgit_rc in
		0) nfgit_say "nfgit: $nfgit_target ($nfgit_short): the rules pass nfgit check" ;;
		3) nfgit_unchecked="$nfgit_unchecked, $nfgit_target ($nfgit_short)" ;;
		*) nfgit_refused="$nfgit_refused, $nfgit_target ($nfgit_short)" ;;
		esac
	done <"$nfgit_tmp/stdin"

	nfgit_why=
	if [ -n "$nfgit_refused" ]; then
		nfgit_why="the rules of ${nfgit_refused#, } do not pass nfgit check (fix the lines above and push again)"
	fi
	if [ -n "$nfgit_unchecked" ]; then
		if [ "$(nfgit_config nfgit.allowUnchecked false)" = true ]; then
			nfgit_say "nfgit: warning: ${nfgit_unchecked#, } accepted without a check (nfgit.allowUnchecked is true)"
		else
			nfgit_why="${nfgit_why:+$nfgit_why; }the rules of ${nfgit_unchecked#, } could not be checked here (git config nfgit.allowUnchecked true accepts such pushes)"
		fi
	fi
	[ -n "$nfgit_why" ] || return 0
	nfgit_say "nfgit: push refused: $nfgit_why"
	return 1
}
