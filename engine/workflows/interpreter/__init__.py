"""The parts of the definition interpreter, `engine.workflows.workflows.WorkflowInstanceWorkflow`.

`decisions` is the pure decision logic (which transition fires, templating of activity configs,
waits, fork/join bookkeeping), plain functions unit-tested without Temporal.

The workflow class is assembled from mixins that share one instance state (`state`), each module
one concern: `saga` (running activities and compensating them), `transitions` (choosing and taking a
transition), `steps` (a step's lifecycle and the bodies of its types), `fork` (parallel branches)
and `updates` (the commands, as Temporal Updates with validators). Two plain objects the state
owns do the rest: `projection` (numbering and batching the read-model writes) and `conditions`
(inline conditions and pinned business rules). `common` holds the token and the exceptions.

Everything here is workflow code: deterministic, no DB, HTTP or settings imports.
"""
