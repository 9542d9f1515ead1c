# covers: file order (this is "a.d")
iptables -A ORDER -m comment --comment "file a.d" -j RETURN
