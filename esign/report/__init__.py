"""The verification report: its model (with the JSON shape) and its renderers — text for people, ETSI XML.

The model is plain values filled in by :mod:`esign.verify`; nothing here verifies, so the report
imports only the catalogues.
"""
