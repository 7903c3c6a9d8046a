"""Notifications: one row per user and message (task assigned, claimed by someone else,
escalated, SLA breached; the business rules' NOTIFY action; created through the API for a user,
a batch, a role's members or a feature's holders), each user's settings (which kinds, and which
also by e-mail through the mail outbox), read / dismissed / restored state and actions."""
