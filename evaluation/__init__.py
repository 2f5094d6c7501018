"""The evaluations (``colorgrade eval``): one module per evaluation, each owning its subcommand; the paper's
own regime (``paper_regime``, ``table1``). They grade through the daemon's own grader in process
(``colorgrade.server.in_process``), or through a running daemon (``video``): one grading path."""
