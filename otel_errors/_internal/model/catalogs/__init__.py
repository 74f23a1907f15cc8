"""The shipped catalogue, one TOML section per area (generic, http, db, cache, tasks, ...).

Every ``*.toml`` file in this package is loaded; a code defined in two sections is
an error, caught by the test suite.
"""
