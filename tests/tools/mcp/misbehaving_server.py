"""A minimal MCP server over stdio, written without the SDK so it starts in milliseconds, whose tools
misbehave on request. It speaks the real protocol (initialize, tools/list, tools/call) to real clients.

    python misbehaving_server.py [--exit-on-start] [--hang-on-start] [--ignore-eof] [--junk-on-start]

Tools: echo(text), add(a, b), pid(), crash(code) (the process exits mid-call), hang() (never answers),
sleep(seconds), junk() (writes a non-JSON line to stdout, then answers), spawn() (starts a child process
in the server's process group and returns its pid), fail() (an is_error result).
"""

import json
import os
import subprocess
import sys
import threading
import time

TOOLS = {
    "echo": {"text": {"type": "string"}},
    "add": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "pid": {},
    "crash": {"code": {"type": "integer"}},
    "hang": {},
    "sleep": {"seconds": {"type": "number"}},
    "junk": {},
    "spawn": {},
    "fail": {},
}
lock = threading.Lock()


def send(message):
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def text(value, is_error=False):
    return {"content": [{"type": "text", "text": str(value)}], "isError": is_error}


def call(name, args):
    if name == "echo":
        return text(args.get("text", ""))
    if name == "add":
        return {**text(args["a"] + args["b"]), "structuredContent": {"sum": args["a"] + args["b"]}}
    if name == "pid":
        return text(os.getpid())
    if name == "crash":
        sys.stderr.write(f"crashing on purpose with code {args.get('code', 1)}\n")
        sys.stderr.flush()
        os._exit(args.get("code", 1))
    if name == "hang":
        time.sleep(10_000)
    if name == "sleep":
        time.sleep(args.get("seconds", 0.1))
        return text("slept")
    if name == "junk":
        with lock:
            sys.stdout.write("this is not JSON-RPC\n")
            sys.stdout.flush()
        return text("after junk")
    if name == "spawn":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10_000)"])
        return text(child.pid)
    if name == "fail":
        return text("it went wrong", is_error=True)
    return None


def handle(message):
    method, request_id, params = message.get("method"), message.get("id"), message.get("params") or {}
    if request_id is None:
        return  # a notification
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "misbehaving", "version": "1.0"},
        }
    elif method == "tools/list":
        result = {
            "tools": [
                {"name": n, "description": f"the {n} tool", "inputSchema": {"type": "object", "properties": p}}
                for n, p in TOOLS.items()
            ]
        }
    elif method == "tools/call":
        result = call(params["name"], params.get("arguments") or {})
        if result is None:
            send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": "unknown tool"}})
            return
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": f"no method {method}"}})
        return
    send({"jsonrpc": "2.0", "id": request_id, "result": result})


def main():
    flags = set(sys.argv[1:])
    if "--exit-on-start" in flags:
        sys.stderr.write("cannot start: missing configuration\n")
        sys.exit(3)
    if "--junk-on-start" in flags:
        print("starting up (a stray print on stdout)", flush=True)
    for line in sys.stdin:
        if "--hang-on-start" in flags:
            continue
        message = json.loads(line)
        threading.Thread(target=handle, args=(message,), daemon=True).start()
    if "--ignore-eof" in flags:
        time.sleep(10_000)


if __name__ == "__main__":
    main()
