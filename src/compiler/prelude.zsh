# nfgit's zsh prelude: runs the rule files given as arguments after the mode. Arguments: the mode, then
# counted lists (the variables called as commands, the files' last command lines, the files' positional
# arguments), then the files.
# Every record written to fd 3 starts with the per-run marker $NFGIT_RECORD_MARK, then a kind:
#   A4 A6 AM   from the aliases (fast mode): $LINENO, N, then N each of $funcfiletrace, $funcsourcetrace and
#              $funcstack (the call's FILE:LINE is made of these, record-stream.ts), then the arguments up to
#              the next marker
#   V          from an alias named after a variable called as a command (`$IPT -A …`, fast mode): as A4, its
#              first argument the variable's value (the compiler reads it as the tool it names, or runs exact)
#   U4 U6      from the functions in fast mode (calls through a variable): #args, the arguments (one
#              empty field when there are none), then the trace up to the next marker
#   4 6 M      asynchronous calls through the functions: #trace, trace…, #args, args…
#   Q4 Q6      calls that poke fd 5 and wait for the compiler's "STATUS:MESSAGE" answer on fd 4
#   QS AS      ipset calls: waiting for the answer (function), or recorded by the alias in fast mode
#   E          a command failed (ZERR); S a rule file starts; Z all files ran; F a forbidden tool;
#   N          a tool nfgit does not compile yet (nft, arptables, ebtables)
#   QV         iptables-save and friends, waiting for the real tool's output on the rules built so far
#   QR         iptables-restore and friends: the tool, its input, its options
#   QI         ipset restore: its input, then the ipset arguments
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
__nfgit_vars=("${@[3,$2+2]}")
shift $(( $2 + 2 ))
__nfgit_last=("${@[2,$1+1]}")
shift $(( $1 + 1 ))
__nfgit_args=("${@[2,$1+1]}")
shift $(( $1 + 1 ))
__nfgit_files=("$@")
set --
__nfgit_m=$NFGIT_RECORD_MARK
__nfgit_ask() {
  local __nfgit_answer
  print -u5 -n .
  IFS= read -r -d '' -u 4 __nfgit_answer || { print -r -- "nfgit: the compiler stopped answering" >&2; exit 70 }
  local __nfgit_said=${__nfgit_answer#*:}
  # A query's answer is the real tool's own stderr and stdout, separated by \x1f, printed as they are.
  if [[ $__nfgit_said == *$'\x1f'* ]]; then
    print -rn -- "${__nfgit_said%%$'\x1f'*}" >&2
    print -rn -- "${__nfgit_said#*$'\x1f'}"
  else
    [[ -z $__nfgit_said ]] || print -r -- "$__nfgit_said" >&2
  fi
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
  if [[ " $* " == *' '(restore|r|-R)' '* ]]; then
    __nfgit_ipset_restore "$@" && return 0 || { local __nfgit_s=$?; (( __nfgit_s == 255 )) || return $__nfgit_s }
  fi
  print -u3 -rN -- $__nfgit_m QS ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask
}
# `ipset restore [-file F]` (its input from a here-document, a pipe or a file): sent with its input
# (QI). Returns 255 when the command is not a restore (a set named `r`: `ipset add r …`).
__nfgit_ipset_restore() {
  local a from= op= in
  local -a keep
  while (( $# )); do
    a=$1; shift
    case $a in
      (-f|-file) from=$1; shift ;;
      (-o|-output) keep+=($a $1); shift ;;
      (-exist|-!|--exist|-q|-quiet|--quiet|-r|-resolve|-s|-sorted|-n|-name|-t|-terse) keep+=($a) ;;
      (*) [[ -z $op ]] && { op=$a; [[ $op == (restore|r|-R) ]] || return 255 }; keep+=($a) ;;
    esac
  done
  [[ -n $op ]] || return 255
  if [[ -n $from ]]; then
    [[ -r $from ]] || { print -r -- "ipset v7.17: Cannot open $from for reading: No such file or directory" >&2; return 1 }
    in=$(command cat -- "$from"; print -n x)
  else
    in=$(command cat; print -n x)
  fi
  print -u3 -rN -- $__nfgit_m QI ${#funcfiletrace[@]} "${funcfiletrace[@]}" $(( ${#keep[@]} + 1 )) "${in%x}" "${keep[@]}"; __nfgit_ask
}
main() {
  print -u3 -rN -- $__nfgit_m M ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"
}
__nfgit_forbidden() {
  print -u3 -rN -- $__nfgit_m F ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"
  return 2
}
# iptables-save in a rule file prints what the rule files have built so far, as the real tool would.
__nfgit_save() {
  print -u3 -rN -- $__nfgit_m QV ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"; __nfgit_ask
}
for __nfgit_tool in {ip,ip6}tables{,-legacy,-nft}-save; do
  functions[$__nfgit_tool]="__nfgit_save $__nfgit_tool \"\$@\""
done
# iptables-restore in a rule file (a bulk load, from a here-document or a file): its input is applied
# to the rules built so far, as the real tool would load it.
__nfgit_restore() {
  local __nfgit_tool=$1 __nfgit_in= __nfgit_from=
  local -a __nfgit_opts
  shift
  while (( $# )); do
    case $1 in
      (-T|--table|-M|--modprobe|-W|--wait-interval) __nfgit_opts+=("$1" "$2"); shift 2 ;;
      (-*) __nfgit_opts+=("$1"); shift ;;
      (*) __nfgit_from=$1; shift ;;
    esac
  done
  if [[ -n $__nfgit_from ]]; then
    [[ -r $__nfgit_from ]] || { print -r -- "$__nfgit_tool: Can't open $__nfgit_from: No such file or directory" >&2; return 1 }
    __nfgit_in=$(command cat -- "$__nfgit_from"; print -n x)
  else
    __nfgit_in=$(command cat; print -n x)
  fi
  print -u3 -rN -- $__nfgit_m QR ${#funcfiletrace[@]} "${funcfiletrace[@]}" $(( ${#__nfgit_opts[@]} + 2 )) "$__nfgit_tool" "${__nfgit_in%x}" "${__nfgit_opts[@]}"; __nfgit_ask
}
for __nfgit_tool in {ip,ip6}tables{,-legacy,-nft}-restore; do
  functions[$__nfgit_tool]="__nfgit_restore $__nfgit_tool \"\$@\""
done
for __nfgit_tool in {ip,ip6}tables-apply; do
  functions[$__nfgit_tool]="__nfgit_forbidden $__nfgit_tool \"\$@\""
done
for __nfgit_tool in nft arptables ebtables arptables-{legacy,nft} ebtables-{legacy,nft} {arp,eb}tables-{save,restore}; do
  functions[$__nfgit_tool]="__nfgit_unsupported $__nfgit_tool \"\$@\""
done
__nfgit_unsupported() {
  print -u3 -rN -- $__nfgit_m N ${#funcfiletrace[@]} "${funcfiletrace[@]}" $# "$@"
  return 2
}
# Fast mode: aliases record every call without a function call (zsh allocates a heap per call),
# which makes a large ruleset cost about what running it with no-op functions costs. They cannot
# answer, so the compiler restarts in exact mode when a call needs an answer (-C, a failing -X…).
if [[ $__nfgit_mode == fast ]]; then
  # The fast forms expand $funcfiletrace unquoted (quoting "${funcfiletrace[@]}" costs 15% a call).
  # A rule file that sets ksh_arrays or sh_word_split (emulate sh) puts these records out of step:
  # the compiler then runs the files again in exact mode, whose functions quote everything.
  # Calls through a variable ($cmd -A …) cannot use the aliases: lighter functions that never wait.
  # Each writes its record as one word with one write (syswrite): `print -u3` costs a dup, an fdopen,
  # an fstat and a close a call, and every word of "$@" goes through zsh's expansion machinery; the
  # arguments joined in one quoted word, and the trace (read once, to the next marker) cost half of that.
  # Quoted and with [@], the word is the same under sh_word_split, ksh_arrays and glob_subst.
  # A zsh built without zsh/system writes the same records with print.
  # The record's head (marker and kind) is one word made once: each piece of a word costs a call.
  if zmodload zsh/system 2>/dev/null; then
    __nfgit_u4="$__nfgit_m"$'\0U4\0'
    __nfgit_u6="$__nfgit_m"$'\0U6\0'
    iptables() { syswrite -o 3 "$__nfgit_u4$#"$'\0'"${(pj:\0:)@}"$'\0'"${(pj:\0:)funcfiletrace[@]}"$'\0' }
    ip6tables() { syswrite -o 3 "$__nfgit_u6$#"$'\0'"${(pj:\0:)@}"$'\0'"${(pj:\0:)funcfiletrace[@]}"$'\0' }
  else
    iptables() { print -u3 -rN -- "$__nfgit_m" U4 "${#}" "${(pj:\0:)@}" "${funcfiletrace[@]}" }
    ip6tables() { print -u3 -rN -- "$__nfgit_m" U6 "${#}" "${(pj:\0:)@}" "${funcfiletrace[@]}" }
  fi
  # The call's own FILE:LINE is what %x:%I would say, made by the compiler from the innermost frame:
  # its file and first line ($funcsourcetrace), $LINENO, and whether it is an eval ($funcstack). The
  # prompt expansion cost about 33k instructions a call (every character of the path goes through the
  # multibyte conversion of prompts), these three about 13k, and within a trap they give the line the
  # exact mode's $funcfiletrace gives, where %I gave the line within the function.
  alias iptables='print -u3 -rN -- $__nfgit_m A4 $LINENO $#funcfiletrace $funcfiletrace $funcsourcetrace $funcstack'
  alias ip6tables='print -u3 -rN -- $__nfgit_m A6 $LINENO $#funcfiletrace $funcfiletrace $funcsourcetrace $funcstack'
  alias ipset='print -u3 -rN -- $__nfgit_m AS $LINENO $#funcfiletrace $funcfiletrace $funcsourcetrace $funcstack'
  alias main='print -u3 -rN -- $__nfgit_m AM $LINENO $#funcfiletrace $funcfiletrace $funcsourcetrace $funcstack'
fi
# The tools by another name, as scripts call them: by path (`/sbin/iptables`, `IPT=/usr/sbin/iptables;
# $IPT -A …`: zsh calls a function named like the path), and by backend (`iptables-nft`, which nfgit
# compiles for the host's own backend). Copies of the functions above, so fast and exact mode alike.
for __nfgit_tool in iptables ip6tables; do
  functions[$__nfgit_tool-legacy]=$functions[$__nfgit_tool]
  functions[$__nfgit_tool-nft]=$functions[$__nfgit_tool]
done
for __nfgit_dir in /sbin /usr/sbin /bin /usr/bin /usr/local/sbin /usr/local/bin; do
  for __nfgit_tool in {ip,ip6}tables{,-legacy,-nft} ipset {ip,ip6}tables-{save,restore,apply} {ip,ip6}tables-{legacy,nft}-{save,restore} nft arptables ebtables; do
    functions[$__nfgit_dir/$__nfgit_tool]=$functions[$__nfgit_tool]
  done
done
unset __nfgit_tool __nfgit_dir
__nfgit_intercepted() { (( $+functions[$1] )) && [[ $1 == (|*/)(ip|ip6)tables(|-legacy|-nft)(|-save|-restore|-apply) || $1 == (|*/)(ipset|nft|arptables|ebtables) ]] }
# `which iptables` is zsh's builtin, which prints a function's body: answer with the path the real
# `which` would print, so `IPT=$(which iptables)` names the tool (then the path function above).
which() {
  local a s=0
  [[ $1 == -* ]] && { builtin which "$@"; return }
  for a in "$@"; do
    if __nfgit_intercepted $a; then print -r -- /usr/sbin/${a:t}; else builtin which -p -- $a || s=1; fi
  done
  return s
}
# `command -v iptables` prints the alias in fast mode: print the name, as for the function in exact
# mode and for the command in a shell without nfgit. Everything else is the builtin's.
__nfgit_command() {
  if [[ ($1 == -v || $1 == -V) && $# == 2 ]] && __nfgit_intercepted $2; then
    [[ $1 == -v ]] && print -r -- $2 || print -r -- "$2 is /usr/sbin/${2:t}"
  else
    builtin command "$@"
  fi
}
alias command=__nfgit_command
# Wrappers that run their command as it is: the command, when it is an intercepted tool, is called
# here (sudo and doas as root, nice and nohup at another priority: the same rule either way).
__nfgit_wrapped() {
  local name=$1 skip=$2; shift 2
  local -a lead
  while (( $# )) && [[ $1 == -* ]]; do
    [[ $1 == -- ]] && { shift; break }
    lead+=($1); shift
    [[ $lead[-1] == $~skip ]] && (( $# )) && { lead+=($1); shift }
  done
  if (( $# )) && { __nfgit_intercepted $1 || [[ $1 == (sudo|doas|nice|nohup|env) ]] }; then "$@"; else command $name "${lead[@]}" "$@"; fi
}
sudo() { __nfgit_wrapped sudo '-[ugpChDrtUT]' "$@" }
doas() { __nfgit_wrapped doas '-[uC]' "$@" }
nice() { __nfgit_wrapped nice '-n' "$@" }
nohup() { __nfgit_wrapped nohup '' "$@" }
# `env [-i] [-u NAME] [NAME=VALUE]… TOOL …`: the tool's environment does not change what it records.
env() {
  local -a a=("$@")
  while (( $#a )); do
    case $a[1] in
      (-u|--unset) shift 2 a ;;
      (-i|--ignore-environment|-) shift a ;;
      (--) shift a; break ;;
      ([A-Za-z_]*=*) shift a ;;
      (*) break ;;
    esac
  done
  while (( $#a )) && [[ $a[1] == [A-Za-z_]*=* ]]; do shift a; done
  if (( $#a )) && __nfgit_intercepted $a[1]; then "${a[@]}"; else command env "$@"; fi
}
# `sh -c '… iptables …' [NAME ARGS…]`: a script that calls the tools runs here, in a subshell in sh
# emulation without errexit, as `sh -c` would run it; any other `sh -c` is the real shell's.
__nfgit_sh() {
  local name=$1; shift
  if [[ $1 == -c && $# -ge 2 && $2 == *(iptables|ip6tables|ipset)* ]]; then
    local __nfgit_script=$2; shift 2
    ( (( $# )) && shift; emulate sh; unsetopt errexit; eval "$__nfgit_script" )
  else
    command $name "$@"
  fi
}
sh() { __nfgit_sh sh "$@" }
bash() { __nfgit_sh bash "$@" }
dash() { __nfgit_sh dash "$@" }
# `xargs [-n N] [-0] [-r] [-t] TOOL ARGS…` with a tool: read the words and call it per batch, as xargs
# would (words split at blanks, or at NULs with -0; no quote processing beyond that).
xargs() {
  local -a a; local n=0 nul= rest
  a=("$@")
  while (( $#a )) && [[ $a[1] == -* ]]; do
    case $a[1] in
      (-n) n=$a[2]; shift 2 a ;;
      (-n<->) n=${a[1]#-n}; shift a ;;
      (-0|--null) nul=1; shift a ;;
      (-r|--no-run-if-empty|-t|--verbose) shift a ;;
      (*) command xargs "$@"; return ;;
    esac
  done
  (( $#a )) && __nfgit_intercepted $a[1] || { command xargs "$@"; return }
  local -a words
  if [[ -n $nul ]]; then words=(${(0)"$(command cat; print -n x)"}); words[-1]=${words[-1]%x}; [[ -z $words[-1] ]] && words[-1]=()
  else words=(${=$(command cat)}); fi
  (( $#words )) || return 0
  (( n > 0 )) || n=$#words
  local i
  for (( i = 1; i <= $#words; i += n )); do "${a[@]}" "${(@)words[i,i+n-1]}" || return 123; done
}
__nfgit_self=${(%):-%x}
__nfgit_at=()
__nfgit_cmd=
__nfgit_k=0
__nfgit_ran=
# A rule file stopped before its end: say where (known in diagnose mode), then end the run.
__nfgit_over=
__nfgit_stopped() {
  __nfgit_over=1
  print -u3 -rN -- $__nfgit_m X ${#__nfgit_at[@]} "${__nfgit_at[@]}" 4 stop "$__nfgit_file" "$__nfgit_cmd" "$__nfgit_exit"
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
    (( ZSH_SUBSHELL == 0 )) && [[ -z $__nfgit_over ]] && print -u3 -rN -- $__nfgit_m X ${#__nfgit_at[@]} "${__nfgit_at[@]}" 4 exit "$__nfgit_file" "$__nfgit_cmd" ""
  }
fi
# `exit` in a rule file would end the whole run (all files are sourced into one shell): it returns
# from the file instead, noting where the first one was. An `exit` (status 0) as a file's last command
# is that file's end, as in a script run by itself; any other exit stops the compile (prelude and
# compile.ts say where). `\exit` and `builtin exit` still end the run (TRAPEXIT, diagnose mode).
alias exit='return ${${__nfgit_exit:="${(%):-%N}|${(%):-%x}:${(%):-%I}"}:+}'
# Accepts the file's end by exit: the first exit seen was at the top level, on its last command line.
__nfgit_exit_ok() { [[ -n $__nfgit_exit && $__nfgit_exit == $__nfgit_file\|$__nfgit_file:${__nfgit_last[@]:$__nfgit_k-1:1} ]] }
# Fast mode: `$IPT -A …` as an alias too. zsh expands an alias named after the token `$IPT` or `${IPT}`
# where it is a command, before expanding it; the record carries the value, and the compiler takes the
# call as the tool's when the value names one, or runs the files again in exact mode when it does not.
# Defined last, so that none applies to the prelude's own code. run-rules.ts passes the names the rule
# files call with options (variable-commands.ts).
if [[ $__nfgit_mode == fast ]]; then
  for __nfgit_tool in $__nfgit_vars; do
    [[ $__nfgit_tool == [A-Za-z_]* && $__nfgit_tool != *[^A-Za-z0-9_]* ]] || continue
    alias "\$$__nfgit_tool=print -u3 -rN -- \$__nfgit_m V \$LINENO \$#funcfiletrace \$funcfiletrace \$funcsourcetrace \$funcstack \"\$$__nfgit_tool\""
    alias "\${$__nfgit_tool}=print -u3 -rN -- \$__nfgit_m V \$LINENO \$#funcfiletrace \$funcfiletrace \$funcsourcetrace \$funcstack \"\$$__nfgit_tool\""
  done
  unset __nfgit_tool
fi
for __nfgit_file in $__nfgit_files; do
  (( ++__nfgit_k ))
  print -u3 -rN -- $__nfgit_m S 0 1 "$__nfgit_file"
  export NFGIT_RULE_FILE=$__nfgit_file
  __nfgit_ran=
  __nfgit_exit=
  . "$__nfgit_file" "${__nfgit_args[@]}"
  if [[ -n $__nfgit_exit ]]; then __nfgit_exit_ok || __nfgit_stopped
  elif [[ $__nfgit_ran != $__nfgit_k ]]; then __nfgit_stopped
  fi
done
__nfgit_over=1
print -u3 -rN -- $__nfgit_m Z 0 0
