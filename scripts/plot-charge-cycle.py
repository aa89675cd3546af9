#!/usr/bin/python3
"""Plot a simulated charge cycle (the CSV of build/tests/charge_cycle) as a PNG.

Usage: /usr/bin/python3 scripts/plot-charge-cycle.py CYCLE.csv OUT.png

Four panels over battery time, with the charge state (bulk / absorption / float) as background
bands: SOC; pack voltage and CVL; highest and lowest cell with the per-cell targets and limits;
CCL and the charge current. `make plot` runs the simulation and this script and writes
docs/img/charge-cycle.png. Needs Debian's python3-matplotlib (run with /usr/bin/python3).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.patches import Patch  # noqa: E402

STATE_COLOURS = {
    "bulk": "#dbe9f6",
    "absorption": "#fde2c8",
    "float": "#dcefd9",
    "stale": "#f6d5d5",
    "failsafe": "#e0c0c0",
}


def read(path):
    params, rows, title = {}, [], ""
    with open(path, newline="") as f:
        lines = f.readlines()
    body = []
    for line in lines:
        if line.startswith("#"):
            text = line[1:].strip()
            if "=" in text and " " not in text:
                key, value = text.split("=", 1)
                params[key] = float(value)
            elif not title:
                title = text
        elif line.strip():
            body.append(line)
    for r in csv.DictReader(body):
        rows.append(r)
    if not rows:
        sys.exit(f"{path}: no data rows")
    return title, params, rows


def col(rows, key):
    return [float(r[key]) for r in rows]


def state_spans(t, states):
    spans, start = [], 0
    for i in range(1, len(states) + 1):
        if i == len(states) or states[i] != states[start]:
            spans.append((t[start], t[i] if i < len(states) else t[-1], states[start]))
            start = i
    return spans


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    title, p, rows = read(sys.argv[1])
    t = col(rows, "t_h")
    states = [r["state"] for r in rows]
    n = p.get("cells", 16)

    fig, ax = plt.subplots(4, 1, sharex=True, figsize=(13, 11), gridspec_kw={"height_ratios": [1, 1.3, 1.5, 1.2]})
    spans = state_spans(t, states)
    for a in ax:
        for t0, t1, s in spans:
            a.axvspan(t0, t1, color=STATE_COLOURS.get(s, "#eeeeee"), lw=0)
        a.grid(True, alpha=0.3)

    ax[0].plot(t, col(rows, "soc_pct"), color="black", lw=1.5)
    ax[0].set_ylabel("SOC (BMS) %")
    ax[0].set_ylim(0, 105)
    ax[0].legend([Patch(color=STATE_COLOURS[s]) for s in STATE_COLOURS if s in states],
                 [f"state: {s}" for s in STATE_COLOURS if s in states], loc="upper left", bbox_to_anchor=(1.01, 1.0),
                 fontsize=8)

    ax[1].plot(t, col(rows, "pack_v"), color="#1f77b4", lw=1.5, label="pack voltage")
    ax[1].step(t, col(rows, "cvl_v"), where="post", color="#d62728", lw=1.5, label="CVL (0x351)")
    if "cell_bulk_v" in p:
        ax[1].axhline(n * p["cell_bulk_v"], color="#d62728", ls=":", lw=1, label="cells x cell_bulk_v")
    if "cell_float_v" in p:
        ax[1].axhline(n * p["cell_float_v"], color="#2ca02c", ls=":", lw=1, label="cells x cell_float_v")
    ax[1].set_ylabel("V")
    ax[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    ax[2].plot(t, col(rows, "cell_max_v"), color="#9467bd", lw=1.5, label="highest cell")
    ax[2].plot(t, col(rows, "cell_min_v"), color="#8c564b", lw=1, alpha=0.8, label="lowest cell")
    refs = [
        ("bms_over_voltage_v", "BMS over-voltage cut-off (reg. 315)", "black", "-"),
        ("ccl_taper_end_v", "ccl_taper_end_v: CCL 0", "#d62728", "--"),
        ("cell_limit_v", "cell_limit_v: cell-voltage controller", "#ff7f0e", "--"),
        ("cell_bulk_v", "cell_bulk_v: absorption target", "#d62728", ":"),
        ("ccl_taper_start_v", "ccl_taper_start_v: CCL taper starts", "#7f7f7f", "--"),
        ("cell_float_v", "cell_float_v: float target", "#2ca02c", ":"),
    ]
    for key, label, colour, style in refs:
        if key in p:
            ax[2].axhline(p[key], color=colour, ls=style, lw=1, label=f"{label} ({p[key]:.3f} V)")
    ax[2].set_ylabel("cell V")
    lo = min(col(rows, "cell_min_v"))
    ax[2].set_ylim(max(lo - 0.02, 2.5), p.get("bms_over_voltage_v", 3.8) + 0.03)
    ax[2].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    ax[3].step(t, col(rows, "ccl_a"), where="post", color="#d62728", lw=1.5, label="CCL (0x351)")
    ax[3].plot(t, col(rows, "current_a"), color="#1f77b4", lw=1, label="battery current")
    ax[3].set_ylabel("A")
    ax[3].set_xlabel("battery time (h)")
    ax[3].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    fig.suptitle(title or "simulated charge cycle", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(sys.argv[2], dpi=90, metadata={"Software": None})


if __name__ == "__main__":
    main()
