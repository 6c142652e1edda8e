"""Markdown tables from the JSON files the benchmarks wrote, for docs/benchmarks.md.

Why: figures copied by hand drift from what was measured; this prints them straight from
``benchmarks/out/*.json``.

    python benchmarks/report.py [benchmarks/out]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def accuracy_tables(out: Path) -> str:
    lines = []
    for corpus in ("main", "heldout"):
        runs = {}
        for tool in ("lookalike", "czkawka", "imagededup"):
            d = _load(out / f"acc_{tool}_{corpus}.json")
            if d:
                runs[tool] = d
        # variants: acc_lookalike_<corpus>_<name>.json (other options, e.g. --model)
        for p in sorted(out.glob(f"acc_lookalike_{corpus}_*.json")):
            d = _load(p)
            if d:
                runs[f"lookalike {d['meta'].get('variant') or p.stem}"] = d
        if not runs:
            continue
        any_run = next(iter(runs.values()))
        lines.append(
            f"**{corpus} corpus** ({any_run['meta']['files']} files, "
            f"{any_run['scores']['copy_pairs']} (original, copy) pairs)\n"
        )
        lines.append(
            "| tool | precision | recall | F1 | false pairs (distractor / near pair / other)"
            " | similar tier pairs (same photo / near pair / other) | seconds |"
        )
        lines.append("|---|---:|---:|---:|---|---|---:|")
        for tool, d in runs.items():
            s, m = d["scores"], d["meta"]
            c = s["false_pairs_by_category"]
            st = s["similar_tier"]
            label = f"{tool} ({m['git']})" if tool.startswith("lookalike") else tool
            lines.append(
                f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
                f"{c.get('distractor', 0)} / {c.get('near_pair', 0)} / {c.get('other', 0)} | "
                f"{st.get('same_photo', 0)} / {st.get('near_pair', 0)} / "
                f"{st.get('other', 0) + st.get('distractor', 0)} | {m.get('seconds', '')} |"
            )
        lines.append("")
        kinds = sorted({k for d in runs.values() for k in d["scores"]["per_kind"]})
        lines.append("| recall per kind | " + " | ".join(runs) + " |")
        lines.append("|---|" + "---:|" * len(runs))
        for k in kinds:
            vals = [
                f"{d['scores']['per_kind'][k]['recall']:.2f}"
                if k in d["scores"]["per_kind"]
                else ""
                for d in runs.values()
            ]
            lines.append(f"| {k} | " + " | ".join(vals) + " |")
        lines.append("")
        la = runs.get("lookalike")
        if la:
            lines.append("<details><summary>lookalike recall per transform</summary>\n")
            lines.append("| transform | kind | recall | pairs | false pairs | errors |")
            lines.append("|---|---|---:|---:|---:|---:|")
            for t, v in la["scores"]["per_transform"].items():
                lines.append(
                    f"| {t} | {v['kind']} | {v['recall']:.2f} | {v['pairs']} | "
                    f"{v['false_pairs']} | {v['errors']} |"
                )
            lines.append("\n</details>\n")
    return "\n".join(lines)


def sweep_table(out: Path) -> str:
    """lookalike at other --sensitivity settings (acc_sweep_s*.json) next to the default."""
    rows = []
    for p in out.glob("acc_sweep_s*.json"):
        d = _load(p)
        if d:
            rows.append((int(p.stem.rsplit("_s", 1)[1]), d))
    default = _load(out / "acc_lookalike_main.json")
    if default:
        rows.append((50, default))
    if len(rows) < 2:
        return ""
    lines = [
        "| sensitivity | precision | recall | F1 | false pairs | crop recall | small rotation recall |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sens, d in sorted(rows, key=lambda r: r[0]):
        s = d["scores"]
        k = s["per_kind"]
        lines.append(
            f"| {sens} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | "
            f"{s['false_pairs']} | {k.get('crop', {}).get('recall', 0):.2f} | "
            f"{k.get('small_rotation', {}).get('recall', 0):.2f} |"
        )
    return "\n".join(lines)


def speed_table(path: Path) -> str:
    d = _load(path)
    if not d:
        return ""
    m = d["machine"]
    lines = [
        f"{d['files']} × {d['resolution']} JPEGs, {d['megabytes']} MB; {d['date_utc']}; "
        f"load average before/after {m['loadavg_before'][0]} / {m['loadavg_after'][0]}\n",
        (
            "**lookalike's source changed during this run**\n"
            if d.get("code_changed_during_run")
            else ""
        ),
        "| contender | seconds | images/s | peak RSS (MB, tree) | CPU s | CPU ms/image | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in d["results"].items():
        note = ""
        if r.get("tool_stats"):
            st = r["tool_stats"]
            note = f"tool-reported {st.get('seconds')} s; " + ", ".join(
                f"{k} {v}" for k, v in st.get("seconds_by_stage", {}).items() if v
            )
        elif r.get("inner"):
            note = "timed inside the process (imports excluded)"
        if r.get("warning"):
            note += f"; {r['warning']}"
        if len(r.get("all_seconds", [])) > 1:
            note += f"; rounds: {', '.join(f'{x:.1f}' for x in r['all_seconds'] if x)} s"
        lines.append(
            f"| {name} | {r.get('seconds') or 0:.2f} | {r.get('images_per_s') or 0:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r.get('cpu_seconds', '')} | {r.get('cpu_ms_per_image', '')} "
            f"| {note} |"
        )
    s = d.get("summary", {})
    if s:
        lines.append("")
        lines.append(
            f"lookalike / fastest peer = {s.get('lookalike_over_fastest_peer')}, "
            f"lookalike / floor = {s.get('lookalike_over_floor')}, "
            f"rescan = {s.get('rescan_pct_of_first')} % of the first scan"
        )
    return "\n".join(lines)


def scaling_table(path: Path) -> str:
    d = _load(path)
    if not d:
        return ""
    lines = [
        f"{d['date_utc']}, load average {d['loadavg'][0]}\n",
        "| entries | index | hash s | build s | search s | exact index build+search s "
        "| candidates | group_items s | groups "
        "| planted pairs grouped | false pairs | peak RSS MB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in d["rows"]:
        if "error" in r:
            lines.append(f"| {r['n']} | error: {r['error'][:80]} |")
            continue
        lines.append(
            f"| {r['n']} | {r['index_kind']} | {r['hash_seconds']} | {r['index_build_seconds']} | "
            f"{r['index_search_seconds']} | {r.get('flat_build_search_seconds') or ''} | "
            f"{r['candidate_pairs']} | {r.get('group_seconds', '')} "
            f"| {r.get('groups', '')} | {r.get('planted_pairs_grouped', '')} | "
            f"{r.get('false_pairs', '')} | {r['peak_rss_mb']} |"
        )
    return "\n".join(lines)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    print("### Accuracy\n")
    print(accuracy_tables(out))
    sweep = sweep_table(out)
    if sweep:
        print("### Sensitivity sweep (main corpus)\n")
        print(sweep)
        print()
    for p in sorted(out.glob("speed_*.json")):
        print(f"### Speed ({p.name})\n")
        print(speed_table(p))
        print()
    for p in sorted(out.glob("scaling*.json")):
        print(f"### Scaling ({p.name})\n")
        print(scaling_table(p))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
