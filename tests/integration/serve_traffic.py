#!/usr/bin/env python3
"""Sends V2 infer requests to a trellis server from several threads over keep-alive connections
and writes what came back as JSON: the integration tests' traffic under rollouts and reloads.

A request counts as failed when it gets no HTTP response at all (a reset, a refused or timed out
connection) or a status other than 200. With --until FILE it keeps going until FILE exists."""
import argparse
import http.client
import json
import os
import threading
import time
from collections import Counter, defaultdict


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v2/models/cancer/infer")
    parser.add_argument("--body", required=True, help="file holding the request body")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--requests", type=int, default=0, help="per thread; 0 with --until")
    parser.add_argument("--until", help="stop once this file exists")
    parser.add_argument("--started", help="file written once every thread has had a reply")
    parser.add_argument("--key-header", help="send this header with one of --keys values")
    parser.add_argument("--keys", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    body = open(args.body, "rb").read()

    lock = threading.Lock()
    statuses, versions, variants = Counter(), Counter(), Counter()
    failures = []
    by_key = defaultdict(set)
    answered = [0]

    def worker(index):
        connection = None
        sent = 0
        first = True
        while True:
            if args.requests and sent >= args.requests:
                break
            if not args.requests and os.path.exists(args.until):
                break
            key = None
            headers = {"Content-Type": "application/json"}
            if args.key_header and args.keys:
                key = "user-%d" % ((index * 7919 + sent) % args.keys)
                headers[args.key_header] = key
            sent += 1
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
                connection.request("POST", args.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                variant = response.getheader("X-Trellis-Variant", "")
                with lock:
                    statuses[response.status] += 1
                    variants[variant] += 1
                    if response.status == 200:
                        versions[json.loads(data)["model_version"]] += 1
                    else:
                        failures.append("status %d: %s" % (response.status, data[:200].decode(errors="replace")))
                    if key is not None:
                        by_key[key].add(variant)
                    if first:
                        first = False
                        answered[0] += 1
                        if args.started and answered[0] == args.threads:
                            open(args.started, "w").close()
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except Exception as error:  # no HTTP answer at all
                with lock:
                    failures.append("%s: %s" % (type(error).__name__, error))
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "status": {str(k): v for k, v in statuses.items()},
        "versions": dict(versions),
        "variants": dict(variants),
        "failures": failures[:50],
        "failed": len(failures),
        "by_key": {k: sorted(v) for k, v in by_key.items()},
    }
    with open(args.out, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
