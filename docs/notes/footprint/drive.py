#!/usr/bin/env python3
"""Drives the issue-25 footprint scenario against a running `crypto-market-mcp --http ADDR`
and prints the server's RSS (VmRSS, /proc/PID/status) after each phase.

usage: drive.py PID http://127.0.0.1:8080/mcp VENUE[,VENUE...] [MISSES_PER_VENUE=64]

Phases: at start; after the first call per venue (list_markets, which loads its markets);
after MISSES concurrent get_order_book misses per venue (distinct symbols, all venues at once).
Standard library only (urllib + threads)."""
import json, sys, threading, time, urllib.request

pid, url, venues = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
misses = int(sys.argv[4]) if len(sys.argv) > 4 else 64

def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return -1

def settled_mb(limit_s=90):
    """RSS once it stopped moving (< 1 MB over 4 s): the pool warms in the background."""
    samples = [rss_mb()]
    for _ in range(limit_s):
        time.sleep(1)
        samples.append(rss_mb())
        if len(samples) >= 5 and max(samples[-5:]) - min(samples[-5:]) < 1:
            break
    return samples[-1]

def post(body, session=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json, text/event-stream")
    if session:
        req.add_header("Mcp-Session-Id", session)
    with urllib.request.urlopen(req, timeout=120) as r:
        text = r.read().decode()
        sid = r.headers.get("Mcp-Session-Id")
    # Streamable HTTP answers either JSON or one SSE event carrying it.
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            return json.loads(line[5:]), sid
    return (json.loads(text) if text.strip() else None), sid

def session():
    _, sid = post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "footprint-drive", "version": "0"}}})
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    return sid

ids = __import__("itertools").count(1)
def call(sid, name, args):
    # Ids unique per session: calls of one session run concurrently, and JSON-RPC pairs a
    # reply with its request by id.
    reply, _ = post({"jsonrpc": "2.0", "id": next(ids), "method": "tools/call",
                     "params": {"name": name, "arguments": args}}, sid)
    result = reply.get("result", {})
    if result.get("isError"):
        error = (result.get("structuredContent") or {}).get("error") or {}
        return {"code": error.get("code", "unknown")}, True
    return result.get("structuredContent"), result.get("isError")

sid = session()
print(f"start: {rss_mb():.1f} MB", flush=True)
symbols = {}
for v in venues:
    page, _ = call(sid, "list_markets", {"exchange": v, "limit": 500})
    symbols[v] = [m["symbol"] for m in page["markets"]]
print(f"after first call per venue ({','.join(venues)}): {rss_mb():.1f} MB", flush=True)
print(f"  settled (pool warmed in the background): {settled_mb():.1f} MB", flush=True)

errors = []
# One session per miss index, shared by the venues: the HTTP front allows 100 sessions per
# client (MCP_MAX_SESSIONS_PER_CLIENT), and calls on one session run concurrently anyway.
sessions = [session() for _ in range(misses)]
def miss(i, v, s):
    try:
        out, err = call(sessions[i], "get_order_book", {"exchange": v, "symbol": s, "limit": 20})
        if err:
            errors.append((v, out["code"]))
    except Exception as e:  # noqa: BLE001 - counted and reported
        errors.append((v, f"{type(e).__name__}: {str(e)[:60]}"))

threads = [threading.Thread(target=miss, args=(i, v, s))
           for v in venues for i, s in enumerate(symbols[v][:misses])]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"after {misses} concurrent order-book misses per venue: {rss_mb():.1f} MB "
      f"({len(threads)} calls, {len(errors)} errors, {time.time() - t0:.1f} s)", flush=True)
print(f"  settled: {settled_mb():.1f} MB", flush=True)
if errors:
    print("  errors by venue and code: " + str(sorted(__import__("collections").Counter(
        (e[0], str(e[1])) for e in errors).items())), flush=True)
status = {l.split(":")[0]: l.split(":")[1].strip() for l in open(f"/proc/{pid}/status") if ":" in l}
print("  " + ", ".join(f"{k} {status.get(k)}" for k in ("RssAnon", "RssFile", "Threads")), flush=True)
