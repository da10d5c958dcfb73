"""The seal path: placement and appearance, seal images, signers, PAdES sealing, batches, SM2/GB/T 38540.

The public sealing API lives in :mod:`esign.seal.pades` and is re-exported here, so callers write
``from esign.seal import seal, SealOptions``.
"""

from esign.seal.pades import (
    AtKeyword,
    AtPosition,
    Certification,
    CrossPage,
    Invisible,
    Level,
    SealImageLike,
    SealOptions,
    aseal,
    prepare_field,
    seal,
    validation_context_for,
)

__all__ = [
    "AtKeyword",
    "AtPosition",
    "Certification",
    "CrossPage",
    "Invisible",
    "Level",
    "SealImageLike",
    "SealOptions",
    "aseal",
    "prepare_field",
    "seal",
    "validation_context_for",
]
