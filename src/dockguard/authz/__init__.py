"""``dockguard authz``: a Docker authorization plugin that enforces the CIS section-5 checks.

dockerd asks the plugin about every Engine API request (``/AuthZPlugin.AuthZReq``).  The
request body is turned into the same `ContainerFacts` the benchmark reads (`translate`), the
same check functions run over it through the engine (`decide`), and what they warn about is
refused unless the policy (`policy`) turns the rule off or grants an exception.

Modules: `gojson` (reading a body the way dockerd's Go decoder reads it), `routes` (URI
normalisation and the endpoint table), `translate` (bodies → facts), `policy`, `decide`,
`lookup` (read-only daemon look-ups for named volumes and ``container:`` namespaces),
`server` (the plugin protocol over a unix socket), `log` (JSON lines), `compose` and `dryrun`
(``dockguard authz check``).
"""
