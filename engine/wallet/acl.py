"""Features of the wallet module."""

from __future__ import annotations

from engine.auth.features import Feature, ModuleFeatures

MODULE = ModuleFeatures(
    id="wallet",
    title="Wallet",
    features=(
        Feature("wallet.balance.view", "View own wallet balance"),
        Feature("wallet.transactions.view", "View own wallet transactions"),
        Feature("wallet.admin.list", "List wallets"),
        Feature("wallet.admin.create", "Create wallets"),
        Feature("wallet.admin.adjust", "Adjust wallet balances"),
    ),
    default_grants={
        "admin": ("wallet.*",),
        "employee": ("wallet.admin.list",),
        "consumer": ("wallet.balance.view", "wallet.transactions.view"),
    },
)
