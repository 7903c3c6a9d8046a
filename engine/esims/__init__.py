"""eSIMs: provisioning through 1Global (the `ProvisionEsim` workflow per eSIM), the forward-only
lifecycle state machine, 1Global webhooks (stored, de-duplicated, signalled), usage and home zone.
The 1Global calls go through the `OneGlobal` port (`ports.py`); its HTTP implementation and a
simulator live in `workers/onglobal/`."""
