"""HTTP response models, one module per domain. Field names are the contract's (camelCase), so a
model reads like the contract's example. They are the routes' `response_model`s: FastAPI checks
every answer against them, and `extra="forbid"` turns a key the model does not know into a test
failure instead of a silently undocumented field."""
