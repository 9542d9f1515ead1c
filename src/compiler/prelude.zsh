emulate -R zsh
setopt errexit
__nfgit_files=("$@")
set --
__nfgit_ask() {
  local __nfgit_answer
  IFS= read -r -d '' -u 4 __nfgit_answer || { print -r -- "nfgit: the compiler stopped answering" >&2; exit 70 }
  [[ -z ${__nfgit_answer#*:} ]] || print -r -- "${__nfgit_answer#*:}" >&2
  return ${__nfgit_answer%%:*}
}
iptables() {
  case $1 in
    (-A|--append|-I|--insert) print -rN -- 4 $#funcfiletrace $funcfiletrace $# "$@" >&3 ;;
    (-t|--table)
      case $3 in
        (-A|--append|-I|--insert) print -rN -- 4 $#funcfiletrace $funcfiletrace $# "$@" >&3 ;;
        (*) print -rN -- Q4 $#funcfiletrace $funcfiletrace $# "$@" >&3; __nfgit_ask ;;
      esac ;;
    (*) print -rN -- Q4 $#funcfiletrace $funcfiletrace $# "$@" >&3; __nfgit_ask ;;
  esac
}
ip6tables() {
  case $1 in
    (-A|--append|-I|--insert) print -rN -- 6 $#funcfiletrace $funcfiletrace $# "$@" >&3 ;;
    (-t|--table)
      case $3 in
        (-A|--append|-I|--insert) print -rN -- 6 $#funcfiletrace $funcfiletrace $# "$@" >&3 ;;
        (*) print -rN -- Q6 $#funcfiletrace $funcfiletrace $# "$@" >&3; __nfgit_ask ;;
      esac ;;
    (*) print -rN -- Q6 $#funcfiletrace $funcfiletrace $# "$@" >&3; __nfgit_ask ;;
  esac
}
main() {
  (( $# > 0 )) || { print -r -- "main: needs a command to run on the host" >&2; return 2 }
  print -rN -- M $#funcfiletrace $funcfiletrace $# "$@" >&3
}
__nfgit_forbidden() {
  print -rN -- F $#funcfiletrace $funcfiletrace $# "$@" >&3
  return 2
}
for __nfgit_tool in {ip,ip6}tables-{save,restore,apply} {ip,ip6}tables-{legacy,nft}{,-save,-restore} ipset nft; do
  functions[$__nfgit_tool]="__nfgit_forbidden $__nfgit_tool \"\$@\""
done
unset __nfgit_tool
TRAPZERR() { print -rN -- E $#funcfiletrace $funcfiletrace 1 $? >&3 }
for __nfgit_file in $__nfgit_files; do
  print -rN -- S 0 1 $__nfgit_file >&3
  export NFGIT_RULE_FILE=$__nfgit_file
  . $__nfgit_file
done
print -rN -- Z 0 0 >&3
