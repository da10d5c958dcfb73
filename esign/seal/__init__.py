"""The seal path: placement and appearance, seal images, signers, PAdES sealing, batches, SM2/GB/T 38540.

The public sealing API is :mod:`esign.seal.pades`'s ``__all__``, re-exported here so callers write
``from esign.seal import seal, SealOptions``; a name added there is public here without a second list.
"""

from esign.seal import pades
from esign.seal.pades import *  # noqa: F403

__all__ = pades.__all__
