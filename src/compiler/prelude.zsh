# nfgit's zsh prelude: runs the rule files given as arguments after the mode.
# Every record written to fd 3 starts with the per-run marker $NFGIT_RECORD_MARK, then a kind:
#   A4 A6 AM   from the aliases (fast mode): location, #trace, trace…, then the arguments up to the next marker
#   U4 U6      from the functions in fast mode (calls through a variable): #trace, trace…, #args, args…
#   4 6 M      asynchronous calls through the functions: #trace, trace…, #args, args…
#   Q4 Q6      calls that poke fd 5 and wait for the compiler's "STATUS:MESSAGE" answer on fd 4
#   QS AS      ipset calls: waiting for the answer (function), or recorded by the alias in fast mode
#   E          a command failed (ZERR); S a rule file starts; Z all files ran; F a forbidden tool
#   X          a rule file stopped before its end (see below): the last command's location and text
# Every rule file is sourced from a copy that ends with the line `__nfgit_ran=K` (K: its place in the
# list), bind-mounted over it in the sandbox (run-rules.ts). Some ways out of a sourced file do not trip
# errexit in the caller: an expansion or parse error ends the `.` with status 126, a top-level `return`
# ends it with any status (NOTES, "Facts found since the first release"). The marker not having run is
# the one sign common to them all. In diagnose mode a DEBUG trap keeps the location and text of the last
# command run from a rule file, so the stop can be reported at its FILE:LINE with its call chain.
emulate -R zsh
setopt errexit
__nfgit_mode=$1
shift
__nfgit_files=("$@")
set --
__nfgit_m=$NFGIT_RECORD_MARK
__nfgit_ask() {
  local __nfgit_answer
  print -u5 -n .
  IFS= read -r -d '' -u 4 __nfgit_answer || { print -r -- "nfgit: the compiler stopped answering" >&2; exit 70 }
  [[ -z ${__nfgit_answer#*:} ]] || print -r -- "${__nfgit_answer#*:}" >&2
  return ${__nfgit_answer%%:*}
}
# The functions: exact semantics for every call (state commands wait for their answer).
iptables() {
  case $1 in
    (-A|--append|-I|--insert) print -u3 -rN -- $__nfgit_m 4 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@" ;;
    (-t|--table)
      case $3 in
        (-A|--append|-I|--insert) print -u3 -rN -- $__nfgit_m 4 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@" ;;
        (*) print -u3 -rN -- $__nfgit_m Q4 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask ;;
      esac ;;
    (*) print -u3 -rN -- $__nfgit_m Q4 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask ;;
  esac
}
ip6tables() {
  case $1 in
    (-A|--append|-I|--insert) print -u3 -rN -- $__nfgit_m 6 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@" ;;
    (-t|--table)
      case $3 in
        (-A|--append|-I|--insert) print -u3 -rN -- $__nfgit_m 6 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@" ;;
        (*) print -u3 -rN -- $__nfgit_m Q6 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask ;;
      esac ;;
    (*) print -u3 -rN -- $__nfgit_m Q6 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask ;;
  esac
}
# Every ipset command can fail on the state (set exists, element already added): all wait for the answer.
ipset() {
  print -u3 -rN -- $__nfgit_m QS ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask
}
main() {
  print -u3 -rN -- $__nfgit_m M ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"
}
__nfgit_forbidden() {
  print -u3 -rN -- $__nfgit_m F ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"
  return 2
}
for __nfgit_tool in {ip,ip6}tables-{save,restore,apply} {ip,ip6}tables-{legacy,nft}{,-save,-restore} nft; do
  functions[$__nfgit_tool]="__nfgit_forbidden $__nfgit_tool \"\$@\""
done
unset __nfgit_tool
# Fast mode: aliases record every call without a function call (zsh allocates a heap per call),
# which makes a large ruleset cost about what running it with no-op functions costs. They cannot
# answer, so the compiler restarts in exact mode when a call needs an answer (-C, a failing -X…).
if [[ $__nfgit_mode == fast ]]; then
  # Calls through a variable ($cmd -A …) cannot use the aliases: lighter functions that never wait.
  iptables() { print -u3 -rN -- $__nfgit_m U4 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@" }
  ip6tables() { print -u3 -rN -- $__nfgit_m U6 ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@" }
  alias iptables='print -u3 -rN -- $__nfgit_m A4 "${(%):-%x:%I:%N}" ${#funcfiletrace[@]} "${funcfiletrace[@]}"'
  alias ip6tables='print -u3 -rN -- $__nfgit_m A6 "${(%):-%x:%I:%N}" ${#funcfiletrace[@]} "${funcfiletrace[@]}"'
  alias ipset='print -u3 -rN -- $__nfgit_m AS "${(%):-%x:%I:%N}" ${#funcfiletrace[@]} "${funcfiletrace[@]}"'
  alias main='print -u3 -rN -- $__nfgit_m AM "${(%):-%x:%I:%N}" ${#funcfiletrace[@]} "${funcfiletrace[@]}"'
fi
__nfgit_self=${(%):-%x}
__nfgit_at=()
__nfgit_cmd=
__nfgit_k=0
__nfgit_ran=
# A rule file stopped before its end: say where (known in diagnose mode), then end the run.
__nfgit_over=
__nfgit_stopped() {
  __nfgit_over=1
  print -u3 -rN -- $__nfgit_m X ${#__nfgit_at[@]} "${__nfgit_at[@]}" 3 stop "$__nfgit_file" "$__nfgit_cmd"
  exit 125
}
# The `.` itself failing (a top-level `return 3`, say) is a stop too, not a failed command of the file.
TRAPZERR() {
  local __nfgit_status=$?
  (( ${#funcfiletrace[@]} == 1 )) && [[ ${funcfiletrace[@]:0:1} == $__nfgit_self:* && $__nfgit_ran != $__nfgit_k ]] && __nfgit_stopped
  print -u3 -rN -- $__nfgit_m E ${#funcfiletrace[@]} "${funcfiletrace[@]}" 1 $__nfgit_status
}
if [[ $__nfgit_mode == diagnose ]]; then
  TRAPDEBUG() {
    [[ ${funcfiletrace[@]:0:1} == $__nfgit_self:* ]] || { __nfgit_at=("${funcfiletrace[@]}"); __nfgit_cmd=$ZSH_DEBUG_CMD }
  }
  # An `exit` anywhere: say where, unless every file ran (then the Z record was written).
  TRAPEXIT() {
    (( ZSH_SUBSHELL == 0 )) && [[ -z $__nfgit_over ]] && print -u3 -rN -- $__nfgit_m X ${#__nfgit_at[@]} "${__nfgit_at[@]}" 3 exit "$__nfgit_file" "$__nfgit_cmd"
  }
fi
for __nfgit_file in $__nfgit_files; do
  (( ++__nfgit_k ))
  print -u3 -rN -- $__nfgit_m S 0 1 "$__nfgit_file"
  export NFGIT_RULE_FILE=$__nfgit_file
  __nfgit_ran=
  . "$__nfgit_file"
  [[ $__nfgit_ran == $__nfgit_k ]] || __nfgit_stopped
done
__nfgit_over=1
print -u3 -rN -- $__nfgit_m Z 0 0
