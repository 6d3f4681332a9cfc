"""Whole photo collections: many inputs in, one results table out, on one machine or a Ray cluster.

One module per concept: `inputs` (what to analyse), `reading` (bytes from an untrusted file),
`rows` (one table row per photo), `table` (the schema and its writers), `resume` (what a table
already holds), `local` (worker processes on this machine), `ray_runner` (the same job on Ray),
`report` (the collection at a glance). The command `manage.py analyze` presents them.
"""
