"""Invite codes: consumers and admins generate unguessable codes; applying one activates a consumer."""
