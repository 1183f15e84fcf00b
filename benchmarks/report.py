"""What the bench prints: the machine, the medians of the forecasting stages and their text."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path
from typing import Any

from swiftbolt_assets.metadata import with_intervals


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import polars as pl

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "platform": platform.platform(),
    }


def forecasting_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the forecasting stages (the backtest: every run that had one)."""

    def stage(name: str) -> list[dict[str, Any]]:
        return [r[name] for r in runs if name in r]

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 2)

    models = stage("models")
    forecast = [f for r in runs for f in r.get("forecast_runs", [])]
    research = stage("research")
    trained = [m["metadata"]["forecast_models"] for m in models]
    written = [f["metadata"]["ml_forecasts_daily"] for f in forecast]
    summary: dict[str, Any] = {
        "models_wall_s_median": med([m["wall_s"] for m in models]),
        "models_wall_s_all": [round(m["wall_s"], 1) for m in models],
        "models_read_s_median": med([float(t["read_seconds"]) for t in trained]),
        "models_train_s_median": med([float(t["train_seconds"]) for t in trained]),
        "models_trained": trained[0]["trained"],
        "models_versions_md": trained[0]["versions"],
        "models_peak_rss_mib_median": round(med([m["peak_rss_mib"] for m in models])),
        "forecast_wall_s_median": med([f["wall_s"] for f in forecast]),
        "forecast_wall_s_all": [round(f["wall_s"], 2) for f in forecast],
        "forecast_rows": written[0]["dagster/row_count"],
        "forecast_compute_s_median": med([float(w["compute_seconds"]) for w in written]),
        "forecast_write_s_median": med([float(w["write_seconds"]) for w in written]),
        "forecast_peak_rss_mib_median": round(med([f["peak_rss_mib"] for f in forecast])),
        "forecast_skips": forecast[0]["metadata"]["ml_forecasts_daily"]["skip_reasons"],
    }
    cycles = [c for r in runs for c in r.get("cycle_runs", [])]
    if cycles:
        stages = list(cycles[0]["steps_s"])
        summary |= {
            "cycle_runs": len(cycles),
            "cycle_wall_s_median": med([c["wall_s"] for c in cycles]),
            "cycle_wall_s_all": [round(c["wall_s"], 2) for c in cycles],
            "cycle_steps_s_median": {
                name: med([c["steps_s"].get(name, 0.0) for c in cycles]) for name in stages
            },
            "cycle_peak_rss_mib_median": round(med([c["peak_rss_mib"] for c in cycles])),
            "cycle_evaluations": cycles[0]["metadata"]
            .get("forecast_evaluations_daily", {})
            .get("dagster/row_count"),
        }
    if research:
        backtest = research[-1]["metadata"]["forecast_backtest"]
        summary |= {
            "research_repeat": len(research),
            "research_wall_s_all": [round(r["wall_s"], 1) for r in research],
            "research_wall_s_median": med([r["wall_s"] for r in research]),
            "research_peak_rss_mib_max": round(max(r["peak_rss_mib"] for r in research)),
            "backtest_period": backtest["period"],
            "backtest_metrics_md": backtest["metrics"],
            "backtest_fits": backtest["fits"],
            "calibration": research[-1]["metadata"]["confidence_calibration"]["holdout_ece"],
        }
    return summary


def forecasting_text(summary: dict[str, Any]) -> str:
    lines = [
        f"forecast_models: one retrain of {summary['models_trained']} horizon models on all "
        f"symbols in {summary['models_wall_s_median']} s (runs {summary['models_wall_s_all']}; "
        f"target <= 600 s): read + label {summary['models_read_s_median']} s, train "
        f"{summary['models_train_s_median']} s, peak RSS {summary['models_peak_rss_mib_median']} "
        "MiB (target < 8 GiB)",
        summary["models_versions_md"],
        f"ml_forecasts_daily: {summary['forecast_rows']} forecasts for one day in "
        f"{summary['forecast_wall_s_median']} s for the Dagster run (runs "
        f"{summary['forecast_wall_s_all']}; target <= 10 s): compute "
        f"{summary['forecast_compute_s_median']} s, write {summary['forecast_write_s_median']} s,"
        f" peak RSS {summary['forecast_peak_rss_mib_median']} MiB; skips "
        f"{summary['forecast_skips']}",
    ]
    if "cycle_wall_s_median" in summary:
        steps = ", ".join(f"{k} {v} s" for k, v in summary["cycle_steps_s_median"].items())
        lines.append(
            f"daily cycle for one new day, all symbols, every asset of daily_cycle_job: "
            f"{summary['cycle_wall_s_median']} s wall (runs {summary['cycle_wall_s_all']}; "
            f"target <= 60 s); steps (median): {steps}; {summary['cycle_evaluations']} "
            f"evaluations; peak RSS {summary['cycle_peak_rss_mib_median']} MiB"
        )
    if "research_wall_s_median" in summary:
        lines += [
            f"forecast_backtest + confidence_calibration: {summary['research_wall_s_median']} s "
            f"(runs {summary['research_wall_s_all']}; target <= 1800 s), peak RSS "
            f"{summary['research_peak_rss_mib_max']} MiB; out of sample "
            f"{summary['backtest_period']}",
            summary["backtest_metrics_md"],
            summary["calibration"],
        ]
    return "\n".join(lines)


def retrain_text(retrain: dict[str, Any]) -> str:
    """The retrain stage: both procedures' fit times and each horizon's validation skill."""
    lines = [
        f"retrain (8 horizons, cutoff {retrain['cutoff']}, {retrain['rows']:,} rows read in "
        f"{retrain['read_s']} s): fit before {retrain['fit_s_median']['before']} s, after "
        f"{retrain['fit_s_median']['after']} s (medians; runs {retrain['fit_s_all']}), "
        f"speed-up {retrain['speedup_median']}x"
    ]
    before = {h["horizon"]: h for h in retrain["per_horizon"]["before"]}

    def skill(h: dict[str, Any]) -> object:
        shown = with_intervals(h, ["skill"]).get("skill")  # point [low, high] where bounded
        return f"{shown:.3f} (not bounded)" if isinstance(shown, float) else shown

    for after in retrain["per_horizon"]["after"]:
        old = before.get(after["horizon"], {})
        lines.append(
            f"  {after['horizon']}: before {old.get('seconds')} s, {old.get('n_train')} rows, "
            f"skill {skill(old)}; after {after['seconds']} s, {after['n_train']} rows, skill "
            f"{skill(after)}"
        )
    return "\n".join(lines)
