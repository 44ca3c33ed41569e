"""The plot of an autoscaling end-to-end run (tools/e2e.py): one PNG, five panels over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

PHASE_COLOURS = {
    "idle": "#f2f2f2",
    "ramp": "#e3eefa",
    "overload": "#fbe3e3",
    "idle again": "#f2f2f2",
    "scrape stopped": "#fff3d6",
}
ENV_STYLES = {"dev": ("tab:blue", "-"), "prod": ("tab:purple", "--")}


def describe_load(args: list[str]) -> str:
    """'--concurrency 32 --timeout 15' -> '32 clients'; '--rate 40 ...' -> '40/s offered'."""
    options = dict(zip(args[::2], args[1::2], strict=False))
    if "--rate" in options:
        return f"{options['--rate']}/s offered"
    if "--concurrency" in options:
        return f"{options['--concurrency']} clients"
    return "no load"


def _offered(run: dict, index: int) -> float:
    return run["phases"][index].get("loadtest", {}).get("attempted_rps", 0.0)


def _reading(step: dict, env: str, trigger: str) -> float | None:
    value = step["envs"][env]["readings"][trigger]["raw"]
    return value[0] if value and len(value) == 1 else None


def plot(run: dict, path: Path) -> Path:
    steps = run["steps"]
    t = [s["t"] for s in steps]
    envs = sorted(run["specs"])
    triggers = run["specs"][envs[0]]["triggers"]
    fig, axes = plt.subplots(5, 1, figsize=(13, 12), sharex=True, height_ratios=[2, 2, 2, 2, 1.6])
    for ax in axes:
        for phase in run["phases"]:
            ax.axvspan(phase["start"], phase["end"], color=PHASE_COLOURS.get(phase["name"], "w"))
    for i, phase in enumerate(run["phases"]):
        label = f"{phase['name']}: {describe_load(phase['load'])}"
        y = 1.02 + 0.1 * (i % 2)
        axes[0].text(
            phase["start"] + 1, y, label, transform=axes[0].get_xaxis_transform(), fontsize=7
        )

    load = axes[0]
    offered = [_offered(run, s["phase_index"]) for s in steps]
    load.step(
        t, offered, where="post", color="black", linestyle="--", label="offered (attempted/s)"
    )
    statuses = sorted({status for s in steps for status in s["answered"]})
    for status in statuses:
        load.plot(t, [s["answered"].get(status, 0.0) for s in steps], label=f"answered {status}")
    load.set_ylabel("requests/s")
    load.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    for ax, trigger in zip(axes[1:3], triggers, strict=False):
        ax.plot(
            t,
            [_reading(s, envs[0], trigger["name"]) for s in steps],
            color="black",
            label="query value",
        )
        target = trigger["threshold"]
        per = " per replica" if trigger["metric_type"] == "AverageValue" else ""
        ax.axhline(target, color="tab:red", linestyle=":", label=f"target {target:g}{per}")
        if trigger["metric_type"] == "AverageValue":
            for env in envs:
                colour, style = ENV_STYLES.get(env, ("grey", "-"))
                ax.plot(
                    t,
                    [target * s["envs"][env]["current"] for s in steps],
                    color=colour,
                    linestyle=style,
                    alpha=0.5,
                    label=f"target x {env} replicas",
                )
        ax.set_ylabel(f"{trigger['name']}\n({trigger['metric_type']})", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    replicas = axes[3]
    for env in envs:
        colour, style = ENV_STYLES.get(env, ("grey", "-"))
        spec = run["specs"][env]
        replicas.step(
            t,
            [s["envs"][env]["desired"] for s in steps],
            where="post",
            color=colour,
            linestyle=style,
            label=f"{env} desired (min {spec['min_replicas']}, max {spec['max_replicas']})",
        )
        fallback = [
            s["envs"][env]["desired"] if s["envs"][env]["fallback"] else None for s in steps
        ]
        replicas.plot(t, fallback, "o", color=colour, markersize=3, label=f"{env} fallback active")
    replicas.set_ylabel("replicas")
    replicas.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)

    alerts = axes[4]
    names = sorted({e["name"] for e in run["alerts"]} | {n for s in steps for n in s["alerts"]})
    for row, name in enumerate(names):
        for state, colour in (("pending", "#f5c26b"), ("firing", "#d62728")):
            times = [s["t"] for s in steps if s["alerts"].get(name) == state]
            alerts.plot(times, [row] * len(times), "s", color=colour, markersize=4)
    alerts.set_yticks(range(len(names)), names, fontsize=8)
    alerts.set_ylim(-0.7, max(len(names), 1) - 0.3)
    alerts.set_ylabel("alerts\n(orange pending,\nred firing)", fontsize=8)
    alerts.set_xlabel(f"seconds (1 s here = {run['time_scale']:g} s of controller time)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
