"""China's commercial-cryptography (国密) formats: SM2/SM3 signatures and GB/T 38540 electronic seals.

Importing the package registers the SM object identifiers with asn1crypto (see :mod:`esign.gm.oids`),
so every SM-aware module can rely on names such as ``sm2_sm3`` being known.
"""

from esign.gm import oids as _oids

_oids.register()
