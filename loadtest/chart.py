#!/usr/bin/env python3
"""Draws docs/benchmarks.svg from a loadtest/compare.py summary: per workload, one bar per proxy for
CPU per request (proxy CPU seconds per million requests) and one for p99 latency. Lower is better
in both panels. Plain SVG, no plotting library.

    python3 loadtest/chart.py /tmp/h2edge-loadtest/run-*/summary.tsv > docs/benchmarks.svg
"""

import csv
import sys
from html import escape

COLORS = {"h2edge": "#1f77b4", "nghttpx": "#ff7f0e", "haproxy": "#2ca02c", "nginx": "#d62728"}
# h2c-upstream variants: the proxy's colour, lighter.
H2C = ' fill-opacity="0.55"'
BAR, LABEL_W, PANEL_W, TOP = 16, 170, 330, 56


def color(target):
    base = target.split("-")[0]
    return COLORS.get(base, "#7f7f7f")


def panel(rows, key, title, unit, x0, y0):
    """One horizontal bar chart; returns its SVG elements and height."""
    out = [f'<text x="{x0}" y="{y0}" font-weight="bold">{escape(title)}</text>']
    top = max(float(r[key]) for r in rows) or 1.0
    y = y0 + 14
    workload = None
    for r in rows:
        if r["workload"] != workload:
            workload = r["workload"]
            y += 8
            out.append(f'<text x="{x0}" y="{y + 10}" font-style="italic">{escape(workload)}</text>')
            y += 16
        v = float(r[key])
        w = max(1.0, PANEL_W * v / top)
        out.append(f'<text x="{x0 + LABEL_W - 6}" y="{y + BAR - 4}" text-anchor="end">'
                   f'{escape(r["target"])}</text>')
        out.append(f'<rect x="{x0 + LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR}" '
                   f'fill="{color(r["target"])}"{H2C if r["target"].endswith("-h2c") else ""}/>')
        out.append(f'<text x="{x0 + LABEL_W + w + 4:.1f}" y="{y + BAR - 4}">{v:,.2f} {unit}</text>')
        y += BAR + 4
    return out, y - y0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        sys.exit(f"{sys.argv[1]}: no rows")
    left, h1 = panel(rows, "cpu_s_per_M", "Proxy CPU seconds per million requests (lower is better)",
                     "s", 10, TOP)
    right, h2 = panel(rows, "p99", "p99 latency, ms (lower is better)", "ms",
                      10 + LABEL_W + PANEL_W + 110, TOP)
    width = 2 * (LABEL_W + PANEL_W + 110) + 10
    height = TOP + max(h1, h2) + 20
    title = "h2edge and its peers: TLS frontend, 3 backends, one proxy core (loadtest/compare.py)"
    print(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
          f'font-family="sans-serif" font-size="12">')
    print(f'<rect width="{width}" height="{height}" fill="white"/>')
    print(f'<text x="10" y="24" font-size="15" font-weight="bold">{escape(title)}</text>')
    for e in left + right:
        print(e)
    print("</svg>")


if __name__ == "__main__":
    main()
