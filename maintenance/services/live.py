"""Pushing machines' health to the health pages over the Channels layer (historian.services.live's one publisher).

One group for the plant (`HEALTH_GROUP`): a few machines have health models, each scored at most every
MAINTENANCE_SCORE_SECONDS, so every health page gets every machine's frames and keeps its own. Each web process
joins the group once (common/fanout.py) and hands the same frame to each of its sockets: a message carries its
browser frame ready-made, with no query per socket.

Two kinds of frame, both {"type": "health", "machine": id, ...}, merged by the page:
- a score (from the scoring hook, with what it has in hand: no query): "at" (epoch ms), "score", "explanation",
  "contributions" [{signal, sigma, share}], "rul" {median_h, low_h, high_h} | null;
- the model and its requests (after a fit, a re-baseline, a request's change; one small query): "model_version",
  "training_window" [start ms, end ms] | null, "training_start" (ms, the proposed window's start), "open_requests".
A push never fails the change that made it: the values and rows are stored whatever the push does.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from django.db import transaction

from historian.services.live import live_publish
from maintenance.health.explain import Contribution
from maintenance.health.rul import RulEstimate
from maintenance.models import HealthModel, MaintenanceRequest, RequestStatus

logger = logging.getLogger(__name__)

HEALTH_GROUP = "maintenance.health"
HEALTH_MESSAGE_TYPE = "maintenance.health"


def _ms(at: datetime | None) -> int | None:
    return None if at is None else round(at.timestamp() * 1000)


def _finite(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


def score_frame(
    *,
    machine_id: int,
    at: datetime,
    score: float,
    explanation: str,
    contributions: list[Contribution],
    rul: RulEstimate | None,
) -> dict[str, Any]:
    return {
        "type": "health",
        "machine": machine_id,
        "at": _ms(at),
        "score": _finite(score),
        "explanation": explanation,
        "contributions": [
            {"signal": c.signal, "sigma": round(c.sigma, 2), "share": round(c.share, 4)} for c in contributions
        ],
        "rul": None
        if rul is None
        else {"median_h": _finite(rul.median_h), "low_h": _finite(rul.low_h), "high_h": _finite(rul.high_h)},
    }


def model_frame(*, model: HealthModel, open_requests: int) -> dict[str, Any]:
    version = model.current_version
    return {
        "type": "health",
        "machine": model.machine_id,
        "model_version": None if version is None else version.version,
        "training_window": None if version is None else [_ms(version.training_start), _ms(version.training_end)],
        "training_start": _ms(model.training_start),
        "open_requests": open_requests,
    }


def _publish(frames: list[dict[str, Any]]) -> None:
    try:
        live_publish([(HEALTH_GROUP, {"type": HEALTH_MESSAGE_TYPE, "frame": frame}) for frame in frames])
    except Exception:
        logger.exception("maintenance live push failed")


def health_score_publish(**score: Any) -> None:
    """A machine's new score (score_frame's arguments), once the transaction (if any) commits."""
    frame = score_frame(**score)
    transaction.on_commit(lambda: _publish([frame]))


def health_model_publish(*, machine_id: int) -> None:
    """A machine's model version, training window and open requests, as they are once the transaction commits."""

    def publish() -> None:
        try:
            model = HealthModel.objects.select_related("current_version").filter(machine_id=machine_id).first()
            if model is None:
                return
            open_requests = (
                MaintenanceRequest.objects.filter(machine_id=machine_id).exclude(status=RequestStatus.DONE).count()
            )
            frame = model_frame(model=model, open_requests=open_requests)
        except Exception:
            logger.exception("maintenance live push failed for machine %s", machine_id)
            return
        _publish([frame])

    transaction.on_commit(publish)
