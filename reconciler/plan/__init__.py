"""The planner: desired specs + one observation + ownership records -> an ordered plan (pure).

``merge`` runs every kind's diff and applies the cross-kind rules: ``holds`` (what
keeps a ready change waiting), ``order`` (MAC settling and a safe order) and
``limits`` (what the firmware allows). No I/O anywhere in this package.
"""

from __future__ import annotations

from reconciler.plan.merge import PlanOptions, plan

__all__ = ["PlanOptions", "plan"]
