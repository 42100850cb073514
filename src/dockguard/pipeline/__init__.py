"""Pipelines: what a command runs between parsing its arguments and `finish_report`.

Each module turns its inputs into one `dockguard.model.Report`; commands render it.
"""
