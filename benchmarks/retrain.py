"""`make bench` stage ``retrain``: the 8-horizon retrain, the procedure before issue 13 and the
current one side by side, on the same training frame, in one process, in alternating order.

- ``before``: every fit bins its own rows (each learner, fit and refit: 32 binnings), every
  horizon trains on every 5th session (``TrainingParams(shared_bins=False,
  thin_overlaps=False)``), LightGBM 200 rounds at learning rate 0.03, 100 random-forest trees;
- ``after``: ``forecast_models``' defaults (``ForecastModelsConfig().params()``): the rows
  binned once for every fit (``forecasting/bins``), overlapping labels thinned to about 4 rows per
  label window (``TrainingParams.stride_for``), its LightGBM rounds and rate and its 40 trees.

Both fit the cutoff a year before the go-live cutoff (2020-03-31), so the skill compared here is
that of 2019-03…2020-03 and the final year of the data stays untouched. Reported per procedure:
the fit wall time of the 8 horizons (``train_versions``: fits, validation, gate), per horizon its
seconds, training rows and cross-fitted validation skill with its 95 % interval; and the read of
the training frame (shared by both, timed once).
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import replace
from datetime import date
from typing import Any

BEFORE_PARAMS = {
    "shared_bins": False,
    "thin_overlaps": False,
    "lgbm_rounds": 200,
    "lgbm_learning_rate": 0.03,
    "rf_trees": 100,
}
CUTOFF = date(2020, 3, 31)


def retrain_side_by_side(pairs: int) -> dict[str, Any]:
    """``pairs`` runs of each procedure (alternating which goes first) on one training frame."""
    import sqlalchemy as sa

    from swiftbolt_assets.cadence import DAILY
    from swiftbolt_assets.forecasting.models_asset import ForecastModelsConfig, read_training_frame
    from swiftbolt_assets.forecasting.store import last_session
    from swiftbolt_assets.forecasting.training import train_versions
    from swiftbolt_assets.market import MarketCalendarResource
    from swiftbolt_assets.settings import load_settings
    from swiftbolt_assets.warehouse.database import resolve_urls

    urls = resolve_urls(load_settings())
    engine = sa.create_engine(urls.warehouse)
    last = last_session(engine, DAILY)
    assert last is not None
    started = time.perf_counter()
    frame = read_training_frame(engine, MarketCalendarResource(), last, DAILY)
    read_s = time.perf_counter() - started
    after = ForecastModelsConfig().params()
    procedures = {"before": replace(after, **BEFORE_PARAMS), "after": after}
    due = [(CUTOFF, h) for h in DAILY.horizons]
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for i in range(pairs):
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for name in order:
            began = time.perf_counter()
            outcome = train_versions(
                frame, due, procedures[name], max_skill_loss=0.02, run_id=f"bench-{name}"
            )
            runs[name].append(
                {
                    "fit_s": round(time.perf_counter() - began, 1),
                    "horizons": [
                        {
                            "horizon": r["horizon"],
                            "seconds": r["train_seconds"],
                            "n_train": r["n_train"],
                            "skill": r["skill"],
                            "skill_low": r["skill_low"],
                            "skill_high": r["skill_high"],
                            "serves": r["serves"],
                        }
                        for r in outcome.rows
                    ],
                }
            )
            print(f"  retrain {name}: {runs[name][-1]['fit_s']} s", flush=True)
    medians = {n: statistics.median(r["fit_s"] for r in runs[n]) for n in runs}
    return {
        "stage": "retrain",
        "cutoff": CUTOFF.isoformat(),
        "rows": frame.height,
        "read_s": round(read_s, 1),
        "fit_s_median": medians,
        "fit_s_all": {n: [r["fit_s"] for r in runs[n]] for n in runs},
        "speedup_median": round(medians["before"] / medians["after"], 2),
        "per_horizon": {n: runs[n][-1]["horizons"] for n in runs},
        "wall_s": read_s + sum(r["fit_s"] for n in runs for r in runs[n]),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
