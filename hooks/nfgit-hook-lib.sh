# shellcheck shell=sh
# nfgit-hook-lib.sh: code shared by nfgit's git hooks (pre-receive, post-receive, pre-push).
# Sourced, not run: the hooks find it next to themselves, and `nfgit hooks install` copies it there.
#
# Git configuration read (see the README, "Push-to-deploy hooks"):
#   nfgit.allowedSigners  (pre-receive) the allowed_signers file pushed commits must be signed by,
#                         as the agent's trust.allowedSigners
#   nfgit.config          (pre-receive) or an agent configuration file, whose trust: section is used;
#                         with neither, pre-receive refuses every push it would check
#   nfgit.path            rules directory in the repository (default: rules)
#   nfgit.branches        branches to check and to trigger on, space-separated (default: all)
#   nfgit.hosts           host names to check the rules for, one `nfgit check --host H` each
#   nfgit.command         how to run nfgit: one word per value (what `nfgit hooks install` records),
#                         or a single value split at blanks, e.g. `node /opt/nfgit/dist/src/cli/main.js`
#   nfgit.checkUser       the user nfgit check runs as when the hook runs as root (default: nobody)
#   nfgit.allowUnchecked  true: accept a push when nfgit check cannot run here (exit 3)
#   nfgit.trigger         (post-receive) the file that asks the local agent to sync now
#                         (default: /run/nfgit/trigger, the agent's `trigger`)

nfgit_nl='
'

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

# Prints WORD single-quoted for the shell (for eval).
nfgit_sq() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# Prints the words of TEXT, split at blanks (no globbing), each quoted for the shell.
nfgit_quote_split() {
	set -f
	# shellcheck disable=SC2086
	set -- $1
	for nfgit_w; do
		printf '%s ' "$(nfgit_sq "$nfgit_w")"
	done
}

# Prints each line of TEXT as one word quoted for the shell.
nfgit_quote_lines() {
	printf '%s\n' "$1" | while IFS= read -r nfgit_w; do
		printf '%s ' "$(nfgit_sq "$nfgit_w")"
	done
}

# Sets nfgit_cmd to the command that runs nfgit, as words quoted for the shell (run it with
# `eval "$nfgit_cmd \"\$@\""`), and nfgit_cmd_text to it for messages. Tried in order: $NFGIT
# (split at blanks); git config nfgit.command, where several values are one word each (what `nfgit
# hooks install` records, so that paths with blanks survive) and a single value is split at blanks
# (`node /opt/nfgit/dist/src/cli/main.js` set by hand); `nfgit` on PATH; then (when $1 is `npx`)
# `npx --no-install nfgit`. Returns 1 with nfgit_cmd empty when none is found.
nfgit_find_command() {
	nfgit_cmd=
	nfgit_cmd_text=
	nfgit_words=$(git config --get-all nfgit.command 2>/dev/null) || nfgit_words=
	if [ -n "${NFGIT:-}" ]; then
		nfgit_cmd_text=$NFGIT
		nfgit_cmd=$(nfgit_quote_split "$NFGIT")
	elif [ -n "$nfgit_words" ]; then
		case $nfgit_words in
		*"$nfgit_nl"*) nfgit_cmd=$(nfgit_quote_lines "$nfgit_words") ;;
		*) nfgit_cmd=$(nfgit_quote_split "$nfgit_words") ;;
		esac
		nfgit_cmd_text=$(printf '%s\n' "$nfgit_words" | tr '\n' ' ')
		nfgit_cmd_text=${nfgit_cmd_text% }
	elif command -v nfgit >/dev/null 2>&1; then
		nfgit_cmd=nfgit
		nfgit_cmd_text=nfgit
	elif [ "${1:-}" = npx ] && command -v npx >/dev/null 2>&1; then
		nfgit_cmd='npx --no-install nfgit'
		nfgit_cmd_text=$nfgit_cmd
	fi
	[ -n "$nfgit_cmd" ]
}

# Makes the hook's temporary directory (nfgit_tmp) and removes it on every way out of the hook.
nfgit_make_tmp() {
	# Private by default: the few files the unprivileged check reads are opened to it one by one.
	umask 077
	nfgit_tmp=$(mktemp -d "${TMPDIR:-/tmp}/nfgit-hook.XXXXXX")
	trap 'rm -rf "$nfgit_tmp"' EXIT
	# A signal runs exit, so the EXIT trap above still cleans up.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# Sets nfgit_drop to the words (quoted for the shell) that run a command as nfgit.checkUser (default
# nobody) when the hook runs as root, and to nothing otherwise; gives that user a private HOME and
# TMPDIR in nfgit_tmp, and lets its group into nfgit_tmp. Used by pre-receive only: pre-push checks
# the pusher's own clone as the pusher, like `nfgit check` run by hand. Rule files are code: run as
# root, even in nfgit's compile sandbox, a pushed rule file would be root on this machine (`nsenter
# -t $PPID` from a process that is still root in the host's user namespace reaches the host's
# namespaces). As another user, nfgit check works through an unprivileged user namespace.
# Returns 1, saying why, when the check cannot be run unprivileged.
nfgit_prepare_unprivileged() {
	nfgit_drop=
	[ "$(id -u)" = 0 ] || return 0
	nfgit_user=$(nfgit_config nfgit.checkUser nobody)
	if ! nfgit_uid=$(id -u "$nfgit_user" 2>/dev/null) || ! nfgit_gid=$(id -g "$nfgit_user" 2>/dev/null); then
		nfgit_say "nfgit: there is no user '$nfgit_user' (git config nfgit.checkUser) to run nfgit check as: the hook runs as root and never runs pushed rule files as root"
		return 1
	fi
	if [ "$nfgit_uid" = 0 ]; then
		nfgit_say "nfgit: nfgit.checkUser '$nfgit_user' is root: name an unprivileged user; pushed rule files are never run as root"
		return 1
	fi
	if ! command -v setpriv >/dev/null 2>&1; then
		nfgit_say "nfgit: setpriv (util-linux) is missing: the hook runs as root and cannot run nfgit check as $nfgit_user"
		return 1
	fi
	nfgit_home="$nfgit_tmp/home"
	mkdir "$nfgit_home"
	chown "$nfgit_uid:$nfgit_gid" "$nfgit_home"
	chgrp "$nfgit_gid" "$nfgit_tmp"
	chmod 0710 "$nfgit_tmp"
	# A clean environment too: what the git server passes to its hooks is none of the rule files' business.
	nfgit_drop="setpriv --reuid=$nfgit_uid --regid=$nfgit_gid --clear-groups --no-new-privs env -i $(nfgit_sq "PATH=$PATH") LANG=C $(nfgit_sq "HOME=$nfgit_home") $(nfgit_sq "TMPDIR=$nfgit_home")"
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
	if [ -n "$nfgit_drop" ]; then
		# Readable by the unprivileged user's group, and by nobody else.
		chgrp -R "$nfgit_gid" "$nfgit_dir"
		chmod -R g+rX "$nfgit_dir"
	fi

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
		# nfgit_drop and nfgit_cmd are words quoted for the shell.
		(cd "$nfgit_dir" && eval "exec $nfgit_drop $nfgit_cmd \"\$@\"") >"$nfgit_tmp/out" 2>&1 </dev/null || nfgit_rc=$?
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
			nfgit_say "nfgit: could not run '$nfgit_cmd_text' (exit $nfgit_rc: not found or not executable; set NFGIT or git config nfgit.command); the rules of $nfgit_ref ($nfgit_short) are not checked"
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

# Verifies every commit that the branch updates in $nfgit_tmp/updates (`NEW REF` lines) bring into
# the watched branches, with `nfgit verify-commits` against the trust list of nfgit.allowedSigners or
# nfgit.config: each pushed tip, and each commit that no watched branch had before this push (those
# were verified when they came). Nothing of the push is run before this passes. Returns 0 when every
# commit is trusted; otherwise says why and returns 1. Needs nfgit_cmd (nfgit_find_command).
nfgit_verify_pushed() {
	nfgit_signers=$(nfgit_config nfgit.allowedSigners '')
	nfgit_agent=$(nfgit_config nfgit.config '')
	if [ -z "$nfgit_signers" ] && [ -z "$nfgit_agent" ]; then
		nfgit_say "nfgit: push refused: this repository has no trust list, and nfgit runs nothing pushed that is not signed by a trusted key. Set the one the agents use, as the repository's owner:"
		nfgit_say "nfgit:   git config nfgit.allowedSigners /etc/nfgit/allowed_signers   (an allowed_signers file, as the agent's trust.allowedSigners)"
		nfgit_say "nfgit:   git config nfgit.config /etc/nfgit/config.yaml               (or an agent configuration: its trust: section)"
		return 1
	fi
	set -- verify-commits
	[ -z "$nfgit_signers" ] || set -- "$@" --allowed-signers "$nfgit_signers"
	[ -z "$nfgit_agent" ] || set -- "$@" --config "$nfgit_agent"

	# The watched branches as they are before this push (pre-receive runs before any ref moves).
	: >"$nfgit_tmp/known"
	git for-each-ref --format='%(refname)' refs/heads/ >"$nfgit_tmp/heads"
	while IFS= read -r nfgit_head; do
		if nfgit_watched_branch "$nfgit_head"; then printf '^%s\n' "$nfgit_head" >>"$nfgit_tmp/known"; fi
	done <"$nfgit_tmp/heads"
	: >"$nfgit_tmp/commits"
	nfgit_pushed=
	while read -r nfgit_new nfgit_target; do
		printf '%s\n' "$nfgit_new" >>"$nfgit_tmp/commits"
		git rev-list "$nfgit_new" --stdin <"$nfgit_tmp/known" >>"$nfgit_tmp/commits"
		nfgit_pushed="$nfgit_pushed, $nfgit_target ($(git rev-parse --short "$nfgit_new"))"
	done <"$nfgit_tmp/updates"
	sort -u -o "$nfgit_tmp/commits" "$nfgit_tmp/commits"
	nfgit_count=$(wc -l <"$nfgit_tmp/commits")
	nfgit_count=$((nfgit_count + 0))

	nfgit_rc=0
	(eval "exec $nfgit_cmd \"\$@\"") <"$nfgit_tmp/commits" >/dev/null 2>"$nfgit_tmp/out" || nfgit_rc=$?
	case $nfgit_rc in
	0)
		nfgit_say "nfgit: ${nfgit_pushed#, }: $nfgit_count commit(s) signed by trusted keys"
		return 0
		;;
	1)
		# One line per refused commit; a long unsigned history is summed up after the first 20.
		head -n 20 "$nfgit_tmp/out" | nfgit_prefix_lines "nfgit: "
		nfgit_lines=$(wc -l <"$nfgit_tmp/out")
		[ "$nfgit_lines" -le 20 ] || nfgit_say "nfgit: … and $((nfgit_lines - 20)) more"
		nfgit_say "nfgit: push refused: ${nfgit_pushed#, } brings commits that are not signed by a trusted key (above), so nothing of it was run or checked; sign them with a key of the trust list (git commit -S, or for several: git rebase --exec 'git commit --amend --no-edit -S' BASE) and push again"
		;;
	126 | 127)
		nfgit_prefix_lines "" <"$nfgit_tmp/out"
		nfgit_say "nfgit: push refused: could not run '$nfgit_cmd_text' (exit $nfgit_rc: not found or not executable; set NFGIT or git config nfgit.command) to verify the signatures of ${nfgit_pushed#, }"
		;;
	*)
		nfgit_prefix_lines "" <"$nfgit_tmp/out"
		nfgit_say "nfgit: push refused: the signatures of ${nfgit_pushed#, } could not be verified (nfgit verify-commits exit $nfgit_rc; see above)"
		;;
	esac
	return 1
}

# Checks every branch update read on stdin as `OLD NEW REF` (pre-receive) or `LOCAL_REF LOCAL_OID
# REMOTE_REF REMOTE_OID` (pre-push; $1 is the hook's name): in both, the second field is the commit
# pushed and the third the ref it goes to. Deletions, tags and branches that nfgit does not watch pass
# unchecked. pre-receive first verifies the signatures of the pushed commits (nfgit_verify_pushed)
# and refuses the whole push, running nothing, when one is not trusted. Reports every ref, then
# returns 0 to accept the push or 1 to refuse it.
nfgit_check_pushed_refs() {
	nfgit_hook=$1
	nfgit_refused=
	nfgit_unchecked=
	nfgit_make_tmp
	cat >"$nfgit_tmp/stdin"
	: >"$nfgit_tmp/updates"
	while read -r _ nfgit_new nfgit_target _; do
		nfgit_is_zero "$nfgit_new" && continue # a deletion
		case $nfgit_target in
		refs/tags/*) continue ;; # tags, among them the agents' own status tags, are not rules
		esac
		nfgit_watched_branch "$nfgit_target" || continue
		printf '%s %s\n' "$nfgit_new" "$nfgit_target" >>"$nfgit_tmp/updates"
	done <"$nfgit_tmp/stdin"
	[ -s "$nfgit_tmp/updates" ] || return 0

	nfgit_npx=
	[ "$nfgit_hook" != pre-push ] || nfgit_npx=npx
	nfgit_find_command "$nfgit_npx" ||
		nfgit_say "nfgit: nfgit not found: set NFGIT, or git config nfgit.command (e.g. 'node /opt/nfgit/dist/src/cli/main.js'), or put nfgit on PATH"
	if [ "$nfgit_hook" = pre-receive ]; then
		if [ -z "$nfgit_cmd" ]; then
			nfgit_say "nfgit: push refused: without nfgit, the signatures of the pushed commits cannot be verified"
			return 1
		fi
		nfgit_verify_pushed || return 1
	fi
	nfgit_can_run=yes
	nfgit_drop=
	if [ "$nfgit_hook" = pre-receive ]; then
		nfgit_prepare_unprivileged || nfgit_can_run=no
	fi

	while read -r nfgit_new nfgit_target; do
		nfgit_rc=0
		if [ -z "$nfgit_cmd" ] || [ "$nfgit_can_run" = no ]; then
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
	done <"$nfgit_tmp/updates"

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
