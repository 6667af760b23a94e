"""The stages of ``vla reproduce`` (entry point: ``scripts/reproduce.py``), one module each.

========================  ==================================================================
module                    role
========================  ==================================================================
``collect``               1. scripted-expert demos of every tabletop task -> ``<out>/demos``
``train``                 2. the ``diffusion`` / ``ar`` / ``l1`` heads with one shared command
``evaluate``              3. closed-loop evaluation with the suite's protocol, aggregated
``sweep``                 4. the diffusion policy under many decoders (and which decoders)
``text``                  5. the list-task side (``scripts/parallelbench.py``)
``report``                6. targets met / missed, ``report.md`` and ``report.json``
``plots``                 the report's three PNG plots
``ledger``                stage timing: this invocation's seconds and ``work_seconds.json``
``shipped``               ``--update-shipped``: copy the diffusion policy when it beats the shipped one
========================  ==================================================================

Each stage resumes: finished outputs are skipped. Heavy imports (torch, the simulators,
matplotlib) happen inside the stage functions, so ``vla reproduce --help`` stays fast.
"""
