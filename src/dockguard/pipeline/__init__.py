"""Pipelines below `dockguard.commands`: each turns parsed arguments into one `Report` (or the
typed facts a report is assembled from).  Commands parse arguments, call one pipeline function
and hand the result to `dockguard.commands.common.finish_report`."""
