#!/usr/bin/env python3
"""Attributes live bytes of a heaptrack folded-stack file to the footprint's components.

usage: heaptrack_print -f HEAP.zst --flamegraph-cost-type leaked -F leaked.folded
       agg.py leaked.folded
("leaked" = still allocated when the server was stopped, i.e. after the scenario.)
Each stack goes to the first rule that matches it."""
import collections
import re
import sys

TYPED_NEW = re.compile(r"ccxt::exchanges::\w+_typed::\w+::new")
rules = [
    ("ccxt instance constructors: set_markets copy of the markets (extra instances)",
     lambda s: TYPED_NEW.search(s) and "set_markets" in s),
    ("ccxt instance constructors: describe(), API tables, options (every instance)",
     lambda s: TYPED_NEW.search(s)),
    ("ccxt load_markets on the first instance (parsed reply, tables)",
     lambda s: "load_markets" in s or "fetch_markets" in s),
    ("directory (MarketIndex, convert::market)",
     lambda s: "MarketIndex" in s or "directory" in s or "convert6market" in s),
    ("symbol states / actors", lambda s: "symbol" in s.lower() and "crypto_market_actors" in s),
    ("other ccxt (calls in flight, HTTP clients)", lambda s: "ccxt" in s),
    ("other (runtime, rmcp, tracing, ...)", lambda s: True),
]
total = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    stack, _, cost = line.rstrip("\n").rpartition(" ")
    try:
        cost = int(cost)
    except ValueError:
        continue
    for name, matches in rules:
        if matches(stack):
            total[name] += cost
            break
for name, _ in rules:
    print(f"{total[name] / 1048576:8.2f} MB  {name}")
print(f"{sum(total.values()) / 1048576:8.2f} MB  live heap")
