"""Pipelines: what a command runs between parsing its arguments and `finish_report`.

Each module turns its inputs into one `dockguard.model.Report` (or the typed facts a report is
assembled from); commands parse arguments, call one pipeline function and hand the result to
`dockguard.commands.common.finish_report`.
"""
