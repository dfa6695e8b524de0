#!/usr/bin/env python3
# Import cycles between the files of a module tree: each file's `use crate::...` / `super::...`
# paths (test modules left out) are resolved to the file that defines them; a strongly connected
# group of more than one file is a cycle. Exit status 1 when there is one.
#
#   python3 .ci/import-cycles.py src/proxy        # files of src/proxy
#   python3 .ci/import-cycles.py src/proxy -v     # and print every edge
import os, re, sys
root = sys.argv[1].rstrip('/')
rel_root = os.path.relpath(root, 'src')
prefix = [] if rel_root == '.' else rel_root.split('/')  # the module path of `root`
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)[:-3]
            mod = rel.replace('/mod','').replace('/','::') if rel != 'mod' else ''
            files[mod] = p
def resolve(cur, path):
    parts = path.split('::')
    base = cur.split('::') if cur else []
    # a file `x.rs` is module x; `x/mod.rs` is x; its `super` is parent
    if parts[0] == 'crate':
        if parts[1:1+len(prefix)] != prefix: return None
        parts = parts[1+len(prefix):]; base = []
    elif parts[0] == 'super':
        while parts and parts[0] == 'super':
            base = base[:-1]; parts = parts[1:]
    elif parts[0] == 'self':
        parts = parts[1:]
    else:
        return None
    mod = base[:]
    for p in parts:
        cand = '::'.join(mod + [p])
        if cand in files: mod.append(p)
        else: break
    m = '::'.join(mod)
    return m if m in files else None
edges = {m: set() for m in files}
for m, p in files.items():
    src = open(p).read()
    src = re.sub(r'#\[cfg\(test\)\]\s*mod tests \{.*', '', src, flags=re.S)
    for u in re.findall(r'\buse\s+([\w:]+)', src) + re.findall(r'\b((?:crate|super)(?:::\w+)+)', src):
        t = resolve(m, u)
        if t is not None and t != m and t != '':
            edges[m].add(t)
# Tarjan
idx = {}; low = {}; st = []; on = set(); out = []; n = [0]
def sc(v):
    idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in files:
    if v not in idx: sc(v)
for c in out: print('cycle:', ' <-> '.join(c))
if '-v' in sys.argv:
    for m in sorted(edges): print(m or '(mod)', '->', ', '.join(sorted(edges[m])))
sys.exit(1 if out else 0)
