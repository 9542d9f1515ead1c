// The rules other software really creates, reproduced from their sources and documentation, as the
// iptables calls each one makes (in its order: -I puts a jump at the top, -A at the end). Loaded into a
// scratch namespace on top of nfgit's rules by the preserve tests.

/** One tool's calls, each an iptables argv (the first element is the tool). */
export type Calls = ReadonlyArray<readonly string[]>;

/**
 * Docker up to 27 (libnetwork iptables driver, default bridge docker0, a container 172.17.0.2
 * publishing 8080→80): DOCKER-USER jumped to first, isolation stages, ACCEPT rules for the bridge
 * straight in FORWARD, the DOCKER chain in nat, MASQUERADE of the bridge subnet and the hairpin rule.
 */
export const DOCKER_27: Calls = [
  ['iptables', '-t', 'nat', '-N', 'DOCKER'],
  ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ['iptables', '-t', 'nat', '-A', 'OUTPUT', '!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ['iptables', '-t', 'nat', '-I', 'POSTROUTING', '-s', '172.17.0.0/16', '!', '-o', 'docker0', '-j', 'MASQUERADE'],
  ['iptables', '-t', 'nat', '-I', 'DOCKER', '-i', 'docker0', '-j', 'RETURN'],
  ['iptables', '-N', 'DOCKER'],
  ['iptables', '-N', 'DOCKER-ISOLATION-STAGE-1'],
  ['iptables', '-N', 'DOCKER-ISOLATION-STAGE-2'],
  ['iptables', '-N', 'DOCKER-USER'],
  ['iptables', '-A', 'DOCKER-USER', '-j', 'RETURN'],
  ['iptables', '-I', 'FORWARD', '-o', 'docker0', '-j', 'DOCKER'],
  ['iptables', '-I', 'FORWARD', '-o', 'docker0', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ['iptables', '-I', 'FORWARD', '-i', 'docker0', '!', '-o', 'docker0', '-j', 'ACCEPT'],
  ['iptables', '-I', 'FORWARD', '-i', 'docker0', '-o', 'docker0', '-j', 'ACCEPT'],
  ['iptables', '-I', 'FORWARD', '-j', 'DOCKER-ISOLATION-STAGE-1'],
  ['iptables', '-I', 'FORWARD', '-j', 'DOCKER-USER'],
  ['iptables', '-A', 'DOCKER-ISOLATION-STAGE-1', '-i', 'docker0', '!', '-o', 'docker0', '-j', 'DOCKER-ISOLATION-STAGE-2'],
  ['iptables', '-A', 'DOCKER-ISOLATION-STAGE-1', '-j', 'RETURN'],
  ['iptables', '-A', 'DOCKER-ISOLATION-STAGE-2', '-o', 'docker0', '-j', 'DROP'],
  ['iptables', '-A', 'DOCKER-ISOLATION-STAGE-2', '-j', 'RETURN'],
  ['iptables', '-A', 'DOCKER', '-d', '172.17.0.2/32', '!', '-i', 'docker0', '-o', 'docker0', '-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'ACCEPT'],
  ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '172.17.0.2/32', '-d', '172.17.0.2/32', '-p', 'tcp', '-m', 'tcp', '--dport', '80', '-j', 'MASQUERADE'],
  ['iptables', '-t', 'nat', '-A', 'DOCKER', '!', '-i', 'docker0', '-p', 'tcp', '-m', 'tcp', '--dport', '8080', '-j', 'DNAT', '--to-destination', '172.17.0.2:80'],
];

/** Docker 28 on: FORWARD jumps to DOCKER-USER and DOCKER-FORWARD only; the rest lives in its own chains (IPv6 too). */
export const DOCKER_28: Calls = [
  ...['iptables', 'ip6tables'].flatMap((t): string[][] => [
    [t, '-N', 'DOCKER'],
    [t, '-N', 'DOCKER-BRIDGE'],
    [t, '-N', 'DOCKER-CT'],
    [t, '-N', 'DOCKER-FORWARD'],
    [t, '-N', 'DOCKER-ISOLATION-STAGE-1'],
    [t, '-N', 'DOCKER-ISOLATION-STAGE-2'],
    [t, '-N', 'DOCKER-USER'],
    [t, '-A', 'FORWARD', '-j', 'DOCKER-USER'],
    [t, '-A', 'FORWARD', '-j', 'DOCKER-FORWARD'],
    [t, '-A', 'DOCKER', '!', '-i', 'docker0', '-o', 'docker0', '-j', 'DROP'],
    [t, '-A', 'DOCKER-BRIDGE', '-o', 'docker0', '-j', 'DOCKER'],
    [t, '-A', 'DOCKER-CT', '-o', 'docker0', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    [t, '-A', 'DOCKER-FORWARD', '-j', 'DOCKER-CT'],
    [t, '-A', 'DOCKER-FORWARD', '-j', 'DOCKER-ISOLATION-STAGE-1'],
    [t, '-A', 'DOCKER-FORWARD', '-j', 'DOCKER-BRIDGE'],
    [t, '-A', 'DOCKER-FORWARD', '-i', 'docker0', '-j', 'ACCEPT'],
    [t, '-A', 'DOCKER-ISOLATION-STAGE-1', '-i', 'docker0', '!', '-o', 'docker0', '-j', 'DOCKER-ISOLATION-STAGE-2'],
    [t, '-A', 'DOCKER-ISOLATION-STAGE-2', '-o', 'docker0', '-j', 'DROP'],
    [t, '-t', 'nat', '-N', 'DOCKER'],
    [t, '-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ]),
  ['iptables', '-t', 'nat', '-A', 'OUTPUT', '!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '172.17.0.0/16', '!', '-o', 'docker0', '-j', 'MASQUERADE'],
  ['ip6tables', '-t', 'nat', '-A', 'POSTROUTING', '-s', 'fd00:d0c::/64', '!', '-o', 'docker0', '-j', 'MASQUERADE'],
];

/** fail2ban's iptables-multiport action for the sshd jail, with one banned address. */
export const FAIL2BAN: Calls = [
  ['iptables', '-N', 'f2b-sshd'],
  ['iptables', '-A', 'f2b-sshd', '-j', 'RETURN'],
  ['iptables', '-I', 'INPUT', '-p', 'tcp', '-m', 'multiport', '--dports', '22', '-j', 'f2b-sshd'],
  ['iptables', '-I', 'f2b-sshd', '1', '-s', '203.0.113.5/32', '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable'],
];

/** kube-proxy (iptables mode) and the kubelet: jumps prepended to the built-in chains, in filter, nat and mangle. */
export const KUBE_PROXY: Calls = [
  ['iptables', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'],
  ['iptables', '-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY'],
  ['iptables', '-N', 'KUBE-FIREWALL'],
  ['iptables', '-A', 'KUBE-FIREWALL', '!', '-s', '127.0.0.0/8', '-d', '127.0.0.0/8', '-m', 'comment', '--comment', 'block incoming localnet connections', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP'],
  ['iptables', '-I', 'INPUT', '-j', 'KUBE-FIREWALL'],
  ['iptables', '-I', 'OUTPUT', '-j', 'KUBE-FIREWALL'],
  ['iptables', '-N', 'KUBE-PROXY-FIREWALL'],
  ['iptables', '-N', 'KUBE-FORWARD'],
  ['iptables', '-N', 'KUBE-SERVICES'],
  ['iptables', '-I', 'INPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall', '-j', 'KUBE-PROXY-FIREWALL'],
  ['iptables', '-I', 'FORWARD', '-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', 'KUBE-FORWARD'],
  ['iptables', '-I', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
  ['iptables', '-A', 'KUBE-FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP'],
  ['iptables', '-A', 'KUBE-FORWARD', '-m', 'comment', '--comment', 'kubernetes forwarding rules', '-m', 'mark', '--mark', '0x4000/0x4000', '-j', 'ACCEPT'],
  ['iptables', '-t', 'nat', '-N', 'KUBE-SERVICES'],
  ['iptables', '-t', 'nat', '-N', 'KUBE-POSTROUTING'],
  ['iptables', '-t', 'nat', '-N', 'KUBE-MARK-MASQ'],
  ['iptables', '-t', 'nat', '-I', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
  ['iptables', '-t', 'nat', '-I', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'],
  ['iptables', '-t', 'nat', '-I', 'POSTROUTING', '-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', 'KUBE-POSTROUTING'],
  ['iptables', '-t', 'nat', '-A', 'KUBE-POSTROUTING', '-m', 'mark', '!', '--mark', '0x4000/0x4000', '-j', 'RETURN'],
  ['iptables', '-t', 'nat', '-A', 'KUBE-POSTROUTING', '-j', 'MARK', '--set-xmark', '0x4000/0x0'],
  ['iptables', '-t', 'nat', '-A', 'KUBE-POSTROUTING', '-m', 'comment', '--comment', 'kubernetes service traffic requiring SNAT', '-j', 'MASQUERADE', '--random-fully'],
  ['iptables', '-t', 'nat', '-A', 'KUBE-MARK-MASQ', '-j', 'MARK', '--set-xmark', '0x4000/0x4000'],
];
