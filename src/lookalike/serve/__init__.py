"""``lookalike serve``: the job API over HTTP (Starlette on uvicorn, the optional ``serve`` extra).

A thin room over the same engine API the CLI uses: scans go through ``Engine.scan`` with options
validated by ``lookalike scan``'s own click parameters, plans through ``build_plan`` and the plan
check, files are touched only by ``apply_plan`` and ``undo`` through the journal. The engine
never imports this package (import-linter contract).
"""
