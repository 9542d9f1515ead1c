# nfgit's bash prelude: runs bash and sh rule files (their first line names bash or sh), with the same
# records on fd 3 as prelude.zsh (see there for the kinds) and the same answers on fd 4. Differences:
# - Every record's trace is in two halves, the files then the lines (`${BASH_SOURCE[@]}` and
#   `${BASH_LINENO[@]}` need no loop that way); run-rules.ts pairs them into FILE:LINE.
# - There is no fast mode: bash has no cheaper way to record a call than a function (aliases cannot
#   name the caller's frames), so the functions, which answer every state command, are always used.
#   `fast` runs as `exact`. iptables and ip6tables write their records inline (a call through
#   __nfgit_rec costs 60% more).
# - `#!/bin/sh` files run with `set -o posix` (bash's POSIX mode) while they are sourced.
# Arguments: the mode, N lastLines…, M args…, then per file its shell (bash|sh) and its path.
__nfgit_m=$NFGIT_RECORD_MARK
__nfgit_self=${BASH_SOURCE[0]}
shopt -s expand_aliases
# The record of one call: KIND, the trace of the tool function's caller, the arguments. Inline in
# iptables() and ip6tables(), where the frames are the function's own, its callers', main.
__nfgit_rec() {
  local k=$1; shift
  # Frames: __nfgit_rec, the tool's function, …its callers…, main.
  local n=$(( ${#FUNCNAME[@]} - 2 ))
  printf '%s\0' "$__nfgit_m" "$k" $(( 2 * n )) "${BASH_SOURCE[@]:2:n}" "${BASH_LINENO[@]:1:n}" $# "$@" >&3
}
__nfgit_ask() {
  local a said
  printf . >&5
  IFS= read -r -d '' -u 4 a || { printf '%s\n' "nfgit: the compiler stopped answering" >&2; builtin exit 70; }
  said=${a#*:}
  # A query's answer is the real tool's own stderr and stdout, separated by \x1f, printed as they are.
  if [[ $said == *$'\x1f'* ]]; then
    printf '%s' "${said%%$'\x1f'*}" >&2
    printf '%s' "${said#*$'\x1f'}"
  elif [[ -n $said ]]; then
    printf '%s\n' "$said" >&2
  fi
  return "${a%%:*}"
}
iptables() {
  case $1 in
    -A|--append|-I|--insert) printf '%s\0' "$__nfgit_m" 4 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3 ;;
    -t|--table)
      case ${3-} in
        -A|--append|-I|--insert) printf '%s\0' "$__nfgit_m" 4 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3 ;;
        *) printf '%s\0' "$__nfgit_m" Q4 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3; __nfgit_ask ;;
      esac ;;
    *) printf '%s\0' "$__nfgit_m" Q4 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3; __nfgit_ask ;;
  esac
}
ip6tables() {
  case $1 in
    -A|--append|-I|--insert) printf '%s\0' "$__nfgit_m" 6 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3 ;;
    -t|--table)
      case ${3-} in
        -A|--append|-I|--insert) printf '%s\0' "$__nfgit_m" 6 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3 ;;
        *) printf '%s\0' "$__nfgit_m" Q6 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3; __nfgit_ask ;;
      esac ;;
    *) printf '%s\0' "$__nfgit_m" Q6 $(( 2 * ${#FUNCNAME[@]} - 2 )) "${BASH_SOURCE[@]:1}" "${BASH_LINENO[@]:0:${#FUNCNAME[@]}-1}" $# "$@" >&3; __nfgit_ask ;;
  esac
}
ipset() {
  if [[ " $* " == *' '@(restore|r|-R)' '* ]]; then
    __nfgit_ipset_restore "$@" && return 0 || { local s=$?; (( s == 255 )) || return $s; }
  fi
  __nfgit_rec QS "$@"; __nfgit_ask
}
# `ipset restore [-file F]`: sent with its input (QI); 255 when the command is not a restore.
__nfgit_ipset_restore() {
  local a from= op= in
  local -a keep=()
  while (( $# )); do
    a=$1; shift
    case $a in
      -f|-file) from=${1-}; shift ;;
      -o|-output) keep+=("$a" "${1-}"); shift ;;
      -exist|-!|--exist|-q|-quiet|--quiet|-r|-resolve|-s|-sorted|-n|-name|-t|-terse) keep+=("$a") ;;
      *) if [[ -z $op ]]; then op=$a; [[ $op == @(restore|r|-R) ]] || return 255; fi; keep+=("$a") ;;
    esac
  done
  [[ -n $op ]] || return 255
  if [[ -n $from ]]; then
    [[ -r $from ]] || { printf '%s\n' "ipset v7.17: Cannot open $from for reading: No such file or directory" >&2; return 1; }
    in=$(command cat -- "$from"; printf x)
  else
    in=$(command cat; printf x)
  fi
  __nfgit_rec QI "${in%x}" "${keep[@]}"; __nfgit_ask
}
main() {
  __nfgit_rec M "$@"
}
__nfgit_forbidden() {
  __nfgit_rec F "$@"
  return 2
}
__nfgit_unsupported() {
  __nfgit_rec N "$@"
  return 2
}
__nfgit_save() {
  __nfgit_rec QV "$@"; __nfgit_ask
}
__nfgit_restore() {
  local tool=$1 in= from=
  local -a opts=()
  shift
  while (( $# )); do
    case $1 in
      -T|--table|-M|--modprobe|-W|--wait-interval) opts+=("$1" "${2-}"); shift 2 ;;
      -*) opts+=("$1"); shift ;;
      *) from=$1; shift ;;
    esac
  done
  if [[ -n $from ]]; then
    [[ -r $from ]] || { printf '%s\n' "$tool: Can't open $from: No such file or directory" >&2; return 1; }
    in=$(command cat -- "$from"; printf x)
  else
    in=$(command cat; printf x)
  fi
  __nfgit_rec QR "$tool" "${in%x}" "${opts[@]}"; __nfgit_ask
}
for __nfgit_tool in {ip,ip6}tables{,-legacy,-nft}-save; do
  eval "$__nfgit_tool() { __nfgit_save $__nfgit_tool \"\$@\"; }"
done
for __nfgit_tool in {ip,ip6}tables{,-legacy,-nft}-restore; do
  eval "$__nfgit_tool() { __nfgit_restore $__nfgit_tool \"\$@\"; }"
done
for __nfgit_tool in {ip,ip6}tables-apply; do
  eval "$__nfgit_tool() { __nfgit_forbidden $__nfgit_tool \"\$@\"; }"
done
for __nfgit_tool in nft arptables ebtables arptables-{legacy,nft} ebtables-{legacy,nft} {arp,eb}tables-{save,restore}; do
  eval "$__nfgit_tool() { __nfgit_unsupported $__nfgit_tool \"\$@\"; }"
done
unset __nfgit_tool
__nfgit_intercepted() { [[ ${1##*/} =~ ^((ip|ip6)tables(-legacy|-nft)?(-save|-restore|-apply)?|ipset|nft|arptables|ebtables)$ ]]; }
# `which iptables` names the tool's path, as the real which does (then the shim brings the call back).
which() {
  local a s=0
  [[ ${1-} == -* ]] && { command which "$@"; return; }
  for a in "$@"; do
    if __nfgit_intercepted "$a"; then printf '%s\n' "/usr/sbin/${a##*/}"; else command which -- "$a" || s=1; fi
  done
  return $s
}
__nfgit_wrapped() {
  local name=$1 skip=$2; shift 2
  local -a lead=()
  while (( $# )) && [[ $1 == -* ]]; do
    [[ $1 == -- ]] && { shift; break; }
    lead+=("$1"); shift
    [[ -n $skip && ${lead[-1]} =~ ^$skip$ ]] && (( $# )) && { lead+=("$1"); shift; }
  done
  if (( $# )) && { __nfgit_intercepted "$1" || [[ $1 == @(sudo|doas|nice|nohup|env) ]]; }; then "$@"; else command "$name" "${lead[@]}" "$@"; fi
}
sudo() { __nfgit_wrapped sudo '-[ugpChDrtUT]' "$@"; }
doas() { __nfgit_wrapped doas '-[uC]' "$@"; }
nice() { __nfgit_wrapped nice '-n' "$@"; }
nohup() { __nfgit_wrapped nohup '' "$@"; }
env() {
  local -a a=("$@")
  while (( ${#a[@]} )); do
    case ${a[0]} in
      -u|--unset) a=("${a[@]:2}") ;;
      -i|--ignore-environment|-) a=("${a[@]:1}") ;;
      --) a=("${a[@]:1}"); break ;;
      [A-Za-z_]*=*) a=("${a[@]:1}") ;;
      *) break ;;
    esac
  done
  while (( ${#a[@]} )) && [[ ${a[0]} == [A-Za-z_]*=* ]]; do a=("${a[@]:1}"); done
  if (( ${#a[@]} )) && __nfgit_intercepted "${a[0]}"; then "${a[@]}"; else command env "$@"; fi
}
# `sh -c '… iptables …' [NAME ARGS…]`: run here, in a subshell without errexit, as sh would run it.
__nfgit_sh() {
  local name=$1; shift
  if [[ ${1-} == -c && $# -ge 2 && $2 =~ (iptables|ip6tables|ipset) ]]; then
    local __nfgit_script=$2; shift 2
    ( (( $# )) && shift; set +e; eval "$__nfgit_script" )
  else
    command "$name" "$@"
  fi
}
sh() { __nfgit_sh sh "$@"; }
bash() { __nfgit_sh bash "$@"; }
dash() { __nfgit_sh dash "$@"; }
xargs() {
  local -a a=("$@") words=()
  local n=0 nul= i
  while (( ${#a[@]} )) && [[ ${a[0]} == -* ]]; do
    case ${a[0]} in
      -n) n=${a[1]}; a=("${a[@]:2}") ;;
      -n[0-9]*) n=${a[0]#-n}; a=("${a[@]:1}") ;;
      -0|--null) nul=1; a=("${a[@]:1}") ;;
      -r|--no-run-if-empty|-t|--verbose) a=("${a[@]:1}") ;;
      *) command xargs "$@"; return ;;
    esac
  done
  (( ${#a[@]} )) && __nfgit_intercepted "${a[0]}" || { command xargs "$@"; return; }
  if [[ -n $nul ]]; then mapfile -d '' -t words
  else local w; while read -r -a w; do words+=("${w[@]}"); done; fi
  (( ${#words[@]} )) || return 0
  (( n > 0 )) || n=${#words[@]}
  for (( i = 0; i < ${#words[@]}; i += n )); do "${a[@]}" "${words[@]:i:n}" || return 123; done
}
# The tools by another name: by backend (`iptables-nft`) and by path (`/sbin/iptables`,
# `IPT=/usr/sbin/iptables; $IPT -A …`: bash, outside POSIX mode where these are defined, calls a
# function whose name is the path). iptables and ip6tables are copied (their records name their own
# frames); the others call the function of their name.
__nfgit_body() { local d; d=$(declare -f "$1"); printf '%s' "${d#*()}"; }
for __nfgit_tool in iptables ip6tables; do
  __nfgit_copy=$(__nfgit_body $__nfgit_tool)
  for __nfgit_name in $__nfgit_tool{-legacy,-nft} {/sbin,/usr/sbin,/bin,/usr/bin,/usr/local/sbin,/usr/local/bin}/$__nfgit_tool{,-legacy,-nft}; do
    eval "function $__nfgit_name $__nfgit_copy"
  done
done
for __nfgit_dir in /sbin /usr/sbin /bin /usr/bin /usr/local/sbin /usr/local/bin; do
  for __nfgit_tool in ipset {ip,ip6}tables-{save,restore,apply} {ip,ip6}tables-{legacy,nft}-{save,restore} nft arptables ebtables; do
    eval "function $__nfgit_dir/$__nfgit_tool { $__nfgit_tool \"\$@\"; }"
  done
done
unset __nfgit_dir __nfgit_tool __nfgit_name __nfgit_copy

set -eE
__nfgit_mode=$1
__nfgit_last=("${@:3:$2}")
shift $(( $2 + 2 ))
__nfgit_args=("${@:2:$1}")
shift $(( $1 + 1 ))
__nfgit_shells=()
__nfgit_files=()
while (( $# )); do __nfgit_shells+=("$1"); __nfgit_files+=("$2"); shift 2; done
set --
# `set -x` in a rule file: nfgit's own lines are told apart by their function (compile.ts filters them).
PS4='+${FUNCNAME[0]:-$BASH_SOURCE}:$LINENO> '
__nfgit_at=()
__nfgit_cmd=
__nfgit_k=0
__nfgit_ran=
__nfgit_over=
__nfgit_file=
__nfgit_exit=
declare -A __nfgit_nil=()
__nfgit_stopped() {
  __nfgit_over=1
  printf '%s\0' "$__nfgit_m" X "${#__nfgit_at[@]}" "${__nfgit_at[@]}" 4 stop "$__nfgit_file" "$__nfgit_cmd" "$__nfgit_exit" >&3
  builtin exit 125
}
# A failed command: noted with its location (errexit then ends the run). The `.` itself failing (a
# top-level `return 3`) is a stop, not a failed command of the file.
__nfgit_err() {
  local s=$1; shift
  (( $# == 2 )) && [[ $1 == "$__nfgit_self" && $__nfgit_ran != "$__nfgit_k" ]] && __nfgit_stopped
  printf '%s\0' "$__nfgit_m" E $# "$@" 1 "$s" >&3
}
trap '__nfgit_err $? "${BASH_SOURCE[@]:0:${#BASH_SOURCE[@]}-1}" "$LINENO" "${BASH_LINENO[@]:0:${#BASH_LINENO[@]}-2}"' ERR
if [[ $__nfgit_mode == diagnose ]]; then
  set -T
  trap '[[ ${BASH_SOURCE[0]} == "$__nfgit_self" ]] || { __nfgit_at=("${BASH_SOURCE[@]}" "$LINENO" "${BASH_LINENO[@]:0:${#BASH_LINENO[@]}-1}"); __nfgit_cmd=$BASH_COMMAND; }' DEBUG
  trap '[[ -n $__nfgit_over ]] || printf "%s\0" "$__nfgit_m" X "${#__nfgit_at[@]}" "${__nfgit_at[@]}" 4 exit "$__nfgit_file" "$__nfgit_cmd" "" >&3' EXIT
fi
# `exit` returns from the file instead, noting where the first one was (see prelude.zsh); the note is
# assigned inside an associative array's subscript, which expands to nothing. FUNCNAME is empty
# outside functions, so a top-level exit is noted as `|FILE:LINE`.
alias exit='return ${__nfgit_nil[${__nfgit_exit:=${FUNCNAME[0]-}|${BASH_SOURCE[0]-}:$LINENO}]-}'
__nfgit_exit_ok() { [[ -n $__nfgit_exit && $__nfgit_exit == "|$__nfgit_file:${__nfgit_last[__nfgit_k-1]}" ]]; }
for __nfgit_file in "${__nfgit_files[@]}"; do
  __nfgit_k=$(( __nfgit_k + 1 ))
  printf '%s\0' "$__nfgit_m" S 0 1 "$__nfgit_file" >&3
  export NFGIT_RULE_FILE=$__nfgit_file
  __nfgit_ran=
  __nfgit_exit=
  if [[ ${__nfgit_shells[__nfgit_k-1]} == sh ]]; then set -o posix; else set +o posix; fi
  . "$__nfgit_file" "${__nfgit_args[@]}"
  set +o posix
  if [[ -n $__nfgit_exit ]]; then __nfgit_exit_ok || __nfgit_stopped
  elif [[ $__nfgit_ran != "$__nfgit_k" ]]; then __nfgit_stopped
  fi
done
__nfgit_over=1
printf '%s\0' "$__nfgit_m" Z 0 0 >&3
