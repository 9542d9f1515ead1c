/** Rule files shared by the apply proof tests. */

/**
 * The "old" ruleset: a user chain and a nat rule in IPv4; a DROP policy and a user chain in IPv6.
 * Applied first, so that a failed or killed apply has something non-trivial to go back to.
 */
export const OLD_RULES = `# old: what the namespace runs before the apply under test
iptables -N WEB
iptables -A WEB -p tcp --dport 80 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -p tcp -j WEB
iptables -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80
ip6tables -P INPUT DROP
ip6tables -N SSH6
ip6tables -A SSH6 -p tcp --dport 22 -j ACCEPT
ip6tables -A INPUT -i lo -j ACCEPT
ip6tables -A INPUT -j SSH6
`;

/**
 * The "new" ruleset: changes filter and nat in IPv4 (IPv4 tables in restore order: filter, nat, then
 * mangle, a table the old ruleset does not have), and filter plus a new mangle table in IPv6.
 */
export const NEW_RULES = `# new: the apply under test
iptables -P FORWARD DROP
iptables -N API
iptables -A API -p tcp --dport 443 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -p tcp -j API
iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
iptables -t mangle -A PREROUTING -p tcp --dport 22 -j MARK --set-mark 1
ip6tables -A INPUT -p tcp --dport 443 -j ACCEPT
ip6tables -t mangle -A PREROUTING -j MARK --set-mark 2
`;

/**
 * OLD_RULES changed in the tables it has (no table added or dropped), so that an apply after OLD_RULES
 * takes the incremental path: in IPv4 a port replaced, a chain and its jump added, a nat rule replaced;
 * in IPv6 the INPUT policy changed, a rule removed and a port replaced.
 */
export const CHANGED_RULES = `# changed: OLD_RULES applied as a difference
iptables -N WEB
iptables -N API
iptables -A WEB -p tcp --dport 8080 -j ACCEPT
iptables -A API -p tcp --dport 443 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -p tcp -j WEB
iptables -A INPUT -p tcp -j API
iptables -t nat -A PREROUTING -p tcp --dport 8081 -j REDIRECT --to-ports 80
ip6tables -P INPUT ACCEPT
ip6tables -N SSH6
ip6tables -A SSH6 -p tcp --dport 2222 -j ACCEPT
ip6tables -A INPUT -j SSH6
`;
