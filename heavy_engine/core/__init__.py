"""The engine core: configuration, the orchestrator, the agent loop, progress events and sources.

Its public names are re-exported by `heavy_engine`; import them from there.
"""
