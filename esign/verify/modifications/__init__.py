"""Changes after signing: object diff under DocMDP/FieldMDP, page comparison, rendering and its judgement.

The entry point is :func:`esign.verify.modifications.analysis.analyse_changes`.
"""
