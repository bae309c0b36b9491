#!/usr/bin/env python3
"""Helpers of bench/mixed.sh (standard library only).

requests DIR PORT TOKENS: writes DIR/<shape>.reqs for every shape of bench/queries/mixed
(and the feed), one line per tenant token: token TAB JSON body, with ids of that tenant.
replay LOG START END SETUP OUT: the statements the server sent between two byte offsets
of the PostgreSQL log (log_statement = all), parameters bound, as a pgbench script.
"""
import json
import re
import sys
import urllib.request

SHAPES = ["feed", "contact", "inbox", "node", "search", "startup", "members",
          "create_contact", "post_message"]


def new_row_id_parameter(sql):
    """The number of the parameter an INSERT binds to its `id` column, if any."""
    m = re.search(r'INSERT INTO [\w".]+ \(([^)]*)\)\s*VALUES\s*\(', sql, re.I | re.S)
    if not m:
        return None
    columns = [c.strip().strip('"') for c in m.group(1).split(",")]
    if "id" not in columns:
        return None
    # The VALUES list, split at its top-level commas (values may call functions or be
    # quoted literals).
    values, depth, current, quoted = [], 0, "", False
    for ch in sql[m.end():]:
        if ch == "'":
            quoted = not quoted  # a doubled '' toggles twice
        if quoted:
            current += ch
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    values.append(current.strip())
    if len(values) != len(columns):
        return None
    value = values[columns.index("id")]
    return int(value[1:]) if re.fullmatch(r"\$\d+", value) else None


def text(shape):
    path = "bench/queries/feed.graphql" if shape == "feed" else f"bench/queries/mixed/{shape}.graphql"
    with open(path) as f:
        return f.read()


def post(port, token, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def requests(directory, port, tokens_file):
    tokens = [t.strip() for t in open(tokens_file) if t.strip()]
    out = {shape: open(f"{directory}/{shape}.reqs", "w") for shape in SHAPES}
    for token in tokens:
        ids = post(port, token, {"query": "{ contacts(first: 20) { nodes { id } } "
                                          "conversations(first: 20) { nodes { id } } }"})["data"]
        contacts = [n["id"] for n in ids["contacts"]["nodes"]]
        conversations = [n["id"] for n in ids["conversations"]["nodes"]]
        for shape in SHAPES:
            if shape == "contact":
                variables = [{"id": c} for c in contacts[:5]]
            elif shape == "node":
                variables = [{"id": i} for i in contacts[:3] + conversations[:3]]
            elif shape == "post_message":
                variables = [{"c": c} for c in conversations[:5]]
            else:
                variables = [{}]
            for v in variables:
                body = {"query": text(shape), "variables": v}
                out[shape].write(f"{token}\t{json.dumps(body)}\n")
    for f in out.values():
        f.close()


LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[(\d+)\] (\w+):  (.*)$")
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")


def split(sql):
    """Statements of a simple query, split on semicolons outside quotes."""
    parts, current, quoted = [], [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def replay(log, start, end, out):
    with open(log, "rb") as f:
        f.seek(int(start))
        chunk = f.read(int(end) - int(start)).decode(errors="replace")
    entries = []  # [pid, level, message]
    for line in chunk.splitlines():
        m = LINE.match(line)
        if m:
            entries.append([m.group(1), m.group(2), m.group(3)])
        elif entries and line.startswith("\t"):
            entries[-1][2] += "\n" + line[1:]
    statements = []  # (pid, sql)
    for i, (pid, level, message) in enumerate(entries):
        if level != "LOG":
            continue
        m = re.match(r"(?:statement|execute [^:]+): (.*)", message, re.S)
        if not m:
            continue
        sql = m.group(1)
        if message.startswith("execute"):
            detail = entries[i + 1] if i + 1 < len(entries) else None
            params = {}
            if detail and detail[0] == pid and detail[1] == "DETAIL":
                params = {int(n): v for n, v in PARAM.findall(detail[2])}
            new_id = new_row_id_parameter(sql)
            for n in sorted(params, reverse=True):
                value = params[n]
                if n == new_id:
                    # A new row's id: a fresh one each time, or the replay would conflict.
                    value = "gen_random_uuid()"
                sql = re.sub(rf"\${n}(?!\d)", lambda _: value, sql)
            statements.append((pid, sql))
        else:
            statements.extend((pid, s) for s in split(sql))
    # The statements of each connection, in order (requests were sent one at a time).
    order = []
    for pid, _ in statements:
        if pid not in order:
            order.append(pid)
    with open(out, "w") as f:
        for pid in order:
            for p, sql in statements:
                if p == pid and not sql.upper().startswith(("LISTEN", "UNLISTEN", "SELECT 1")):
                    f.write(" ".join(sql.split()) + ";\n")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"requests": requests, "replay": replay}[command](*args)
