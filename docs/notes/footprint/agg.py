import sys, re, collections
# Attribute live bytes (heaptrack folded stacks) to components by the innermost-first matching rule.
rules = [
  ("ccxt: extra instances (InstanceFactory::make): set_markets copy", lambda s: "InstanceFactory" in s and "set_markets" in s),
  ("ccxt: extra instances (InstanceFactory::make): rest (describe, API tables, options)", lambda s: "InstanceFactory" in s),
  ("ccxt: load_markets (1st instance: parse + tables)", lambda s: "load_markets" in s and "CcxtExchange" in s),
  ("ccxt: adapter construction (CcxtExchange::new)", lambda s: "CcxtExchange" in s and "new" in s),
  ("directory / MarketIndex", lambda s: "MarketIndex" in s or "directory" in s),
  ("symbol states / actors", lambda s: "symbol" in s.lower() and "crypto_market_actors" in s),
  ("other ccxt", lambda s: "ccxt" in s),
  ("other", lambda s: True),
]
tot = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    stack, _, cost = line.rstrip("\n").rpartition(" ")
    try: cost = int(cost)
    except ValueError: continue
    for name, f in rules:
        if f(stack):
            tot[name] += cost; break
for name, c in tot.most_common():
    print(f"{c/1048576:8.2f} MB  {name}")
print(f"{sum(tot.values())/1048576:8.2f} MB  total")
