"""The consumers domain: a consumer is a user holding the seeded `consumer` role plus a profile
(names, phone, language, display currency, home country, travel profile, address, active flag).
Sign-up creates the user, the profile and both wallets in one transaction."""
