"""The scan's named stages, each with one input and one output (issue 14).

discover (roots → files) → diff (files → catalog rows) → exact (rows → byte-identical clusters
and one representative each) → extract (representatives → features in the catalog) → group
(features → verified groups of representatives) → rank (groups → keepers, evidence, events).
Each stage is a generator of events whose ``return`` value is its output; ``pipeline.run_scan``
chains them with ``yield from``.
"""
