"""Reading PDF bytes: admission and tolerant parsing, revisions, cross-reference repair, text search, fonts.

Nothing here signs or judges; both the seal path (:mod:`esign.seal`) and the verify path
(:mod:`esign.verify`) build on it.
"""
