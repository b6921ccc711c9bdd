"""What the emulated controller offers: its supported feature bits."""

from __future__ import annotations

from reconciler.features import FEATURE_BITS

__all__ = ["SUPPORTED_FEATURES"]

# every bit the vendor documents as controller-supported (reference section 11)
SUPPORTED_FEATURES = sum(1 << bit for bit in FEATURE_BITS.values())
